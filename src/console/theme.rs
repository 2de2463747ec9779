//! theme (in progress)
