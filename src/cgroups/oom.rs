//! Notification when the OOM killer acts in a container's cgroup.
//!
//! v1: an eventfd registered for memory.oom_control through
//! cgroup.event_control; the kernel also signals it when the cgroup is
//! removed. v2: inotify on memory.events, whose oom_kill counter grows with
//! every kill, and on cgroup.events, which says when the cgroup empties.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::{file, CgroupPaths};
use crate::error::{Context, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The OOM killer killed a process (v2), or the cgroup hit its limit
    /// and the kernel invoked the OOM handling (v1).
    Oom,
    /// The cgroup was removed or emptied: no more events will come.
    Gone,
}

pub struct OomWatcher {
    source: Source,
}

enum Source {
    V1 {
        eventfd: EventFd,
        /// Must stay open as long as the registration.
        _oom_control: File,
        event_control: PathBuf,
    },
    V2 {
        inotify: Inotify,
        dir: PathBuf,
        memory_events: WatchDescriptor,
        oom_kills: u64,
    },
}

impl OomWatcher {
    pub fn new(paths: &CgroupPaths) -> Result<OomWatcher> {
        let dir = paths.dir_for("memory").ok_or_else(|| {
            Error::Resource("cannot watch for OOM kills: the container has no memory cgroup".into())
        })?;
        let source = if paths.unified { v2(dir)? } else { v1(dir)? };
        Ok(OomWatcher { source })
    }

    /// Becomes readable when [`OomWatcher::read`] has something to report.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.source {
            Source::V1 { eventfd, .. } => eventfd.as_fd(),
            Source::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// What happened since the last call; call when [`OomWatcher::fd`] is
    /// readable (it blocks otherwise).
    pub fn read(&mut self) -> Result<Vec<Event>> {
        match &mut self.source {
            Source::V1 {
                eventfd,
                event_control,
                ..
            } => {
                eventfd.read().ctx(|| "cannot read the OOM eventfd")?;
                // The kernel signals registrations when it removes the cgroup.
                Ok(vec![if event_control.exists() {
                    Event::Oom
                } else {
                    Event::Gone
                }])
            }
            Source::V2 {
                inotify,
                dir,
                memory_events,
                oom_kills,
            } => {
                let mut out = Vec::new();
                for ev in inotify.read_events().ctx(|| "cannot read inotify events")? {
                    if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
                        out.push(Event::Gone);
                    } else if ev.wd == *memory_events {
                        let kills = file::keyed_u64(dir, "memory.events", "oom_kill")?;
                        if kills > *oom_kills {
                            out.push(Event::Oom);
                        }
                        *oom_kills = kills;
                    } else if file::keyed_u64(dir, "cgroup.events", "populated")? == 0 {
                        out.push(Event::Gone);
                    }
                }
                Ok(out)
            }
        }
    }
}

fn v1(dir: &Path) -> Result<Source> {
    let oom_control = File::open(dir.join("memory.oom_control"))
        .ctx(|| format!("cannot open {}/memory.oom_control", dir.display()))?;
    let eventfd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC).ctx(|| "cannot create an eventfd")?;
    let registration = format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd());
    file::write(dir, "cgroup.event_control", &registration)?;
    Ok(Source::V1 {
        eventfd,
        _oom_control: oom_control,
        event_control: dir.join("cgroup.event_control"),
    })
}

fn v2(dir: &Path) -> Result<Source> {
    let inotify =
        Inotify::init(InitFlags::IN_CLOEXEC).ctx(|| "cannot create an inotify instance")?;
    let watch = |name: &str| {
        inotify
            .add_watch(&dir.join(name), AddWatchFlags::IN_MODIFY)
            .ctx(|| format!("cannot watch {}/{name}", dir.display()))
    };
    let memory_events = watch("memory.events")?;
    watch("cgroup.events")?;
    let oom_kills = file::keyed_u64(dir, "memory.events", "oom_kill")?;
    Ok(Source::V2 {
        inotify,
        dir: dir.to_path_buf(),
        memory_events,
        oom_kills,
    })
}
