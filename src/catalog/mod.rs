//! Catalogue loading.
