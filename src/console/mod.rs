//! The control room (`gantry watch`): app state, update, views, keymap,
//! theme and dialogs.

pub mod keymap;
pub mod theme;
