//! The command line: parse, then hand off to one role's entry point.

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use gantry::ctl::{CtlArgs, CtlCommand};

#[derive(Parser)]
#[command(
    name = "gantry",
    version,
    about = "Graduated deploys of trading services: shadow → paper → canary → live, with health gates and rollback",
    after_help = "Exit status: 0 ok, 1 failed, 2 usage, 3 refused by policy, 65 bad input data, \
                  69 agent unavailable, 77 role not permitted, 78 bad config (docs/cli.md)."
)]
struct Cli {
    /// With no command, gantry opens the control room on $GANTRY_HOSTS.
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per run: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// The control room: every host's pipeline, live, with the keys to act.
    Watch {
        /// The hosts file (docs/hosts.md).
        #[arg(long, env = "GANTRY_HOSTS")]
        hosts: Option<PathBuf>,
        /// ssh_config for aliases (like `ssh -F`).
        #[arg(long, env = "GANTRY_SSH_CONFIG")]
        ssh_config: Option<PathBuf>,
        /// Trust and record host keys never seen before.
        #[arg(long)]
        accept_new: bool,
        /// Hosts to watch: names in the hosts file, or ~/.ssh/config aliases.
        names: Vec<String>,
    },
    /// Run a simulated host end to end: a real agent, a real `gantry sim`, short soaks.
    Demo {
        /// Soak seconds per stage.
        #[arg(long, default_value_t = 2)]
        soak: u64,
        /// No story: start the fleet, print its hosts file, run until Ctrl-C.
        #[arg(long)]
        headless: bool,
        /// Hosts in the fleet (with --headless), each behind its own SSH server.
        #[arg(long, default_value_t = 5)]
        hosts: usize,
        /// With --headless: light hosts answered in this process, with no
        /// agent and a fixed status (for benchmarks of a large fleet).
        #[arg(long, requires = "headless")]
        light: bool,
    },
    /// Write DIR/gantry.toml, a commented agent config.
    Init {
        dir: PathBuf,
        /// The host's name (default: this machine's hostname); with
        /// `--kind container`, the container's name (the host's is then --host).
        #[arg(long)]
        name: Option<String>,
        /// The host's name, for every form (default: this machine's hostname).
        #[arg(long)]
        host: Option<String>,
        /// The service is `gantry sim` on a free loopback port.
        #[arg(long, conflicts_with = "kind")]
        sim: bool,
        /// The service's kind: `systemd` (with --unit) or `container` (with
        /// --image) writes that commented form.
        #[arg(long, value_parser = ["systemd", "container"])]
        kind: Option<String>,
        /// The systemd unit the agent restarts (with --kind systemd).
        #[arg(
            long,
            requires = "kind",
            required_if_eq("kind", "systemd"),
            conflicts_with = "image"
        )]
        unit: Option<String>,
        /// The image repository; the tag comes from each release's IMAGE_TAG
        /// (with --kind container).
        #[arg(long, requires = "kind", required_if_eq("kind", "container"))]
        image: Option<String>,
        /// The container engine's CLI (with --kind container; default docker).
        #[arg(long, requires = "image", value_parser = ["docker", "podman"])]
        engine: Option<String>,
        /// Soak seconds for every stage (default: 10 with --sim, else 300/600/900).
        #[arg(long)]
        soak: Option<u64>,
        /// Overwrite an existing gantry.toml.
        #[arg(long)]
        force: bool,
    },
    /// Run the pipeline engine in the foreground until SIGTERM.
    Agent {
        #[arg(long, env = "GANTRY_CONFIG")]
        config: PathBuf,
    },
    /// Ask the agent: submit, status, approve, rollback, estop, rearm, drill, audit, validate.
    Ctl {
        #[command(flatten)]
        args: CtlArgs,
        #[command(subcommand)]
        command: CtlCommand,
    },
    /// Bridge this SSH session's stdin/stdout to the agent (run by sshd).
    Attach {
        /// The most this session may do (pin it in an authorized_keys forced command).
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long, env = "GANTRY_CONFIG")]
        config: Option<PathBuf>,
        /// The operator this key belongs to, recorded as who acted.
        #[arg(long)]
        operator: Option<String>,
    },
    /// A simulated trading service; its knobs come from its environment (docs/sim.md).
    #[command(args_conflicts_with_subcommands = true)]
    Sim {
        #[command(subcommand)]
        command: Option<SimCommand>,
        /// Address to serve Prometheus metrics on (default: SIM_LISTEN or 127.0.0.1:9187).
        #[arg(long)]
        listen: Option<String>,
        /// Check a release file's sim knobs and exit (the sim's validate command).
        #[arg(long, value_name = "ENVFILE")]
        validate_config: Option<PathBuf>,
    },
    /// Print a shell completion script: `source <(gantry completions bash)`.
    Completions {
        /// bash, zsh, fish (also elvish, powershell).
        shell: clap_complete::Shell,
    },
    /// Print the man page as roff: `gantry man | man -l -`; `gantry man ctl` for a command's.
    Man {
        /// A command's page (e.g. `ctl`, `ctl rollout`) instead of gantry(1).
        command: Vec<String>,
        /// Write every page (gantry.1, gantry-ctl.1, …) into DIR instead.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<PathBuf>,
    },
}

/// The simulated venue, as a desk's scripts talk to a venue's API.
#[derive(Subcommand)]
enum SimCommand {
    /// What is open at the venue: orders, positions, notional.
    #[command(
        after_help = "Exit status: 0 shown (and flat, with --check-flat), 1 not flat, \
                            2 --state-dir not a directory, 65 venue file corrupt, \
                            69 venue file unreadable (docs/sim.md)."
    )]
    Venue {
        /// The sim's state dir (SIM_STATE_DIR, or its working directory).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// One JSON object: open_orders, positions [{symbol, qty, notional_usd}], notional_usd.
        #[arg(long)]
        json: bool,
        /// Exit 1 unless nothing is open.
        #[arg(long)]
        check_flat: bool,
    },
    /// Cancel every open order and close every position at market.
    #[command(
        after_help = "Exit status: 0 the venue is flat, 1 it could not be flattened, \
                            2 --state-dir not a directory, 65 venue file corrupt, \
                            69 venue file unreadable (docs/sim.md)."
    )]
    Flatten {
        /// The sim's state dir (SIM_STATE_DIR, or its working directory).
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
    },
}

/// `gantry ctl status | head -c1`: a write to a closed pipe ends `ctl`,
/// `init`, `sim venue` and `sim flatten` the way it ends `cat` or `grep`, by SIGPIPE, with nothing printed
/// (a shell reports 141). Rust starts with SIGPIPE ignored, so the write
/// fails with EPIPE instead and `println!` panics. One switch here covers
/// every line these commands print.
///
/// Sockets are unaffected: std sends on them with MSG_NOSIGNAL, so an agent
/// that closes its socket is still an error with a message (pinned by
/// tests/cleanup.rs); `ctl` writes to no pipe but its stdout and stderr.
/// The commands that own processes or sessions (`demo`, `watch`, `agent`,
/// `attach`, `sim` itself) keep SIGPIPE ignored: dying on the spot would skip
/// their cleanup (the demo handles a broken stdout itself).
fn die_by_sigpipe_like_a_filter() {
    // SAFETY: signal(2) restoring the default disposition, before any
    // thread of ours exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Some(
            Command::Ctl { .. }
                | Command::Init { .. }
                | Command::Completions { .. }
                | Command::Man { .. }
                | Command::Sim {
                    command: Some(_),
                    ..
                }
        )
    ) {
        die_by_sigpipe_like_a_filter();
    }
    let command = cli.command.unwrap_or(Command::Watch {
        hosts: std::env::var_os("GANTRY_HOSTS").map(PathBuf::from),
        ssh_config: std::env::var_os("GANTRY_SSH_CONFIG").map(PathBuf::from),
        accept_new: false,
        names: Vec::new(),
    });
    let result = match command {
        Command::Watch {
            hosts,
            ssh_config,
            accept_new,
            names,
        } => gantry::console::run(&gantry::console::WatchArgs {
            hosts_file: hosts,
            hosts: names,
            ssh_config,
            accept_new,
        }),
        Command::Demo {
            soak,
            headless,
            hosts,
            light,
        } => gantry::demo::run(&gantry::demo::DemoArgs {
            soak,
            headless,
            hosts,
            light,
        }),
        Command::Init {
            dir,
            name,
            sim,
            soak,
            force,
            kind,
            unit,
            image,
            engine,
            host,
        } => {
            // clap admits only these kinds, each with its own flag.
            let kind = match kind.as_deref() {
                Some("systemd") => unit.map(|unit| gantry::init::ServiceArg::Systemd { unit }),
                Some("container") => image.map(|image| gantry::init::ServiceArg::Container {
                    image,
                    engine,
                    name: name.clone(),
                }),
                _ => None,
            };
            gantry::init::run(&gantry::init::InitArgs {
                dir,
                name,
                host,
                sim,
                soak,
                force,
                kind,
            })
        }
        Command::Agent { config } => gantry::agent::run(&config),
        Command::Ctl { args, command } => gantry::ctl::run(&args, command),
        Command::Sim {
            command: None,
            listen,
            validate_config,
        } => gantry::sim::main(listen, validate_config),
        Command::Sim {
            command:
                Some(SimCommand::Venue {
                    state_dir,
                    json,
                    check_flat,
                }),
            ..
        } => gantry::sim::venue_cli::show(&state_dir, json, check_flat),
        Command::Sim {
            command: Some(SimCommand::Flatten { state_dir }),
            ..
        } => gantry::sim::venue_cli::flatten(&state_dir),
        Command::Completions { shell } => {
            completions(shell);
            Ok(())
        }
        Command::Man { command, dir } => man(&command, dir.as_deref()),
        Command::Attach {
            role,
            config,
            operator,
        } => role
            .parse()
            .map_err(|e: String| gantry::exit::fail(gantry::exit::Code::Usage, e))
            .and_then(|role| {
                gantry::attach::run(&gantry::attach::AttachArgs {
                    role,
                    config,
                    operator,
                })
            }),
    };
    if let Err(error) = result {
        let code = gantry::exit::code_of(&error);
        // Not eprintln!, which panics when stderr is gone (a closed
        // terminal): the status still tells.
        let _ = writeln!(
            std::io::stderr(),
            "gantry: {}",
            gantry::text::inert(&format!("{error:#}"))
        );
        std::process::exit(code);
    }
}

/// Generated from the parser itself, so a script can never offer a flag
/// the binary refuses (hence a command, not a build.rs artefact).
fn completions(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "gantry", &mut std::io::stdout());
}

fn man(path: &[String], dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    use gantry::exit::{Code, fail};
    let mut cmd = Cli::command().disable_help_subcommand(true);
    if let Some(dir) = dir {
        return clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("cannot write man pages into {}", dir.display()));
    }
    // Built first so a subcommand's page is titled `gantry-ctl`, not `ctl`.
    cmd.build();
    let mut page = &cmd;
    for name in path {
        page = page.find_subcommand(name).ok_or_else(|| {
            fail(
                Code::Usage,
                format!(
                    "no command {name:?} under `{}`; try `{} --help`",
                    page.get_display_name().unwrap_or(page.get_name()),
                    page.get_display_name()
                        .unwrap_or(page.get_name())
                        .replace('-', " ")
                ),
            )
        })?;
    }
    clap_mangen::Man::new(page.clone())
        .render(&mut std::io::stdout())
        .context("cannot write the man page to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
