//! keymap (in progress)
