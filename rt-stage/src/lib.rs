//! rt-stage: images, layers, union filesystems, volumes and networking above
//! the rt runtime. Filled by issues #10 and #11; rt never depends on it.
