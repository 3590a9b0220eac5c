//! `rt pause` and `rt resume`: freeze and thaw every process of a
//! container through its freezer cgroup (v1 freezer.state, v2
//! cgroup.freeze). `rt state` then reports "paused".

use crate::cgroups::Driver;
use crate::error::Result;
use crate::state::{Status, Store};

pub fn pause(store: &Store, id: &str) -> Result<()> {
    set_frozen(store, id, Status::Running, true, "pause it")
}

pub fn resume(store: &Store, id: &str) -> Result<()> {
    set_frozen(store, id, Status::Paused, false, "resume it")
}

fn set_frozen(store: &Store, id: &str, from: Status, frozen: bool, op: &'static str) -> Result<()> {
    let _locked = store.lock(id)?;
    let (st, _) = super::load_in(store, id, &[from], op)?;
    let driver = Driver::of(&st.cgroups);
    if frozen {
        driver.freeze(&st.cgroups)
    } else {
        driver.thaw(&st.cgroups)
    }
}
