pub(crate) mod scoring;
