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
    if let Err(e) = run(cli) {
        eprintln!("rt-stage: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    cli::run(cli)?;
    Ok(())
}
