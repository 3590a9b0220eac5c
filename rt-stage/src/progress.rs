//! Progress bars on stderr, only when stderr is a terminal: logs and pipes get the
//! one-line summaries the commands print instead.

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: Option<MultiProgress>,
    drawn: Cell<bool>,
}

impl Progress {
    /// Bars when stderr is a terminal that can redraw a line (indicatif draws nothing
    /// without TERM, or with TERM=dumb).
    pub fn auto() -> Progress {
        let term = std::env::var("TERM").unwrap_or_default();
        if std::io::stderr().is_terminal() && !term.is_empty() && term != "dumb" {
            Progress {
                multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
                drawn: Cell::new(false),
            }
        } else {
            Progress::hidden()
        }
    }

    pub fn hidden() -> Progress {
        Progress {
            multi: None,
            drawn: Cell::new(false),
        }
    }

    /// A byte-counting bar labelled `id: action`; `total` 0 means unknown (no bar, a count).
    pub fn bytes(&self, id: &str, action: &str, total: u64) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let template = if total == 0 {
            "{prefix}: {msg:<12} {bytes}"
        } else {
            "{prefix}: {msg:<12} [{bar:30}] {bytes}/{total_bytes}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = if total == 0 {
            ProgressBar::no_length()
        } else {
            ProgressBar::new(total)
        };
        let bar = multi.add(bar.with_style(style));
        bar.set_prefix(id.to_string());
        bar.set_message(action.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        self.drawn.set(true);
        bar
    }

    /// Ends the bars' last line, so what the command prints next starts on its own.
    pub fn close(&self) {
        if self.drawn.get() {
            eprintln!();
        }
    }
}

/// Ends a bar with a final word ("Pull complete"), leaving it on screen.
pub fn finish(bar: &ProgressBar, word: &str) {
    if let Some(len) = bar.length().filter(|l| *l > 0) {
        bar.set_position(len);
    }
    bar.finish_with_message(word.to_string());
}
