//! The delivery part of routes.yaml, as plain serde types: defined in
//! [`crate::config::delivery_spec`] (config imports no runtime module) and
//! named here too, beside the code that gives the keys their meaning.

pub(crate) use crate::config::delivery_spec::DeliveryModeSpec;
