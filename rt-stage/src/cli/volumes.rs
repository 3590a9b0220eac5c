//! volume create, ls, rm, inspect.

use clap::{Args, Subcommand};
use serde_json::json;

use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Args, Debug)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub command: VolumeCommand,
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume (a random name if none is given)
    Create { name: Option<String> },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only display volume names
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove volumes; refused while a container uses one
    #[command(alias = "remove")]
    Rm {
        /// Do not complain about volumes that do not exist
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Display detailed information on volumes
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub fn volume(store: &Store, a: VolumeArgs) -> Result<i32> {
    match a.command {
        VolumeCommand::Create { name } => {
            let _lock = store.lock_containers()?;
            let v = store.create_volume(Some(&match name {
                Some(n) => n,
                None => crate::record::new_id()?,
            }))?;
            println!("{}", v.name);
        }
        VolumeCommand::Ls { quiet } => {
            let vols = store.volumes()?;
            if quiet {
                for v in vols {
                    println!("{}", v.name);
                }
            } else {
                let rows: Vec<Vec<String>> = vols
                    .into_iter()
                    .map(|v| vec!["local".to_string(), v.name])
                    .collect();
                print!(
                    "{}",
                    super::format::table(&["DRIVER", "VOLUME NAME"], &rows)
                );
            }
        }
        VolumeCommand::Rm { force, names } => {
            let mut first = None;
            for n in names {
                match store.remove_volume(&n, force) {
                    Ok(()) => println!("{n}"),
                    Err(e) if first.is_none() => first = Some(e),
                    Err(e) => eprintln!("rt-stage: {e}"),
                }
            }
            if let Some(e) = first {
                return Err(e);
            }
        }
        VolumeCommand::Inspect { names } => {
            let mut out = Vec::new();
            for n in names {
                let v = store.volume(&n)?;
                out.push(json!({
                    "Name": v.name,
                    "Driver": "local",
                    "Mountpoint": store.volume_data(&v.name)?,
                    "CreatedAt": v.created,
                    "Anonymous": v.anonymous,
                    "UsedBy": store.volume_users(&v.name)?,
                }));
            }
            let text = serde_json::to_string_pretty(&out).map_err(|e| Error::json("inspect", e))?;
            println!("{text}");
        }
    }
    Ok(0)
}
