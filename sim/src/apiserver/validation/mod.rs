//! Object validation shared by every resource: name, label, annotation and finalizer rules with
//! apimachinery's wording. Resource-specific validation does not belong here.

pub mod names;
