//! SOAP envelopes are read and written with the metadata layer's simple XML tree.

pub use crate::metadata::xml::{Element, XmlError, escape, push_el, unescape};
