pub(crate) mod olx;
