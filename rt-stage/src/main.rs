//! `rt-stage`: the command line. Errors become one line on stderr and exit status 1,
//! like rt's own.

use clap::Parser;
use rt_stage::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    let level = if cli.debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("rt-stage: {e:#}");
            std::process::exit(1);
        }
    }
}

/// The exit status: 0, or a container's own (`run` attached, `exec`).
fn run(cli: Cli) -> anyhow::Result<i32> {
    let code = cli::run(cli)?;
    std::io::Write::flush(&mut std::io::stdout())?;
    Ok(code)
}
