//! Sub-commands of the one binary. Each file is small and calls `service`, never the tables.

/// Prints a line to standard output; a closed pipe (`soporte demo | head -1`) is not an error
/// worth a panic, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The same for standard error.
macro_rules! shout {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod backup;
mod demo;
mod intake;
mod migrate;
mod secrets;
mod serve;
mod sla;
mod token;
mod user;

use crate::config::{Cli, Command, Secret, SlaCommand, TokenCommand, UserCommand};
use crate::service::{Services, Settings};
use std::process::ExitCode;

/// Runs the command line. Errors are printed to stderr and become a non-zero exit code.
pub fn run(cli: Cli) -> ExitCode {
    init_logs();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            shout!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The pipe transport needs sysexits codes (65 bounce, 75 retry), not just failure.
    if let Some(Command::Intake(args)) = &cli.command {
        return runtime.block_on(intake::run(&cli.database, args.clone()));
    }
    let result = runtime.block_on(async move {
        let database = cli.database.clone();
        match cli.command {
            None => serve::run(&database, cli.serve).await,
            Some(Command::Serve(args)) => serve::run(&database, *args).await,
            Some(Command::Migrate) => migrate::run(&database).await,
            Some(Command::User(UserCommand::Add {
                email,
                name,
                role,
                password,
            })) => user::add(&database, &email, &name, &role, password).await,
            Some(Command::User(UserCommand::Passwd { email })) => {
                user::passwd(&database, &email).await
            }
            Some(Command::User(UserCommand::Reset2fa { email })) => {
                user::reset_2fa(&database, &email).await
            }
            Some(Command::Demo {
                tickets,
                days,
                seed,
            }) => demo::run(&database, tickets, days, seed).await,
            Some(Command::Token(TokenCommand::Create { email })) => {
                token::create(&database, &email).await
            }
            Some(Command::Intake(_)) => Ok(()),
            Some(Command::Backup(args)) => backup::run(&database, &args.to).await,
            Some(Command::Sla(SlaCommand::Recompute { since })) => {
                sla::recompute(&database, since.as_deref()).await
            }
            Some(Command::Secrets(command)) => secrets::run(&database, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            shout!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` filters, `SOPORTE_LOG_FORMAT=json` gives one JSON object a line.
fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if std::env::var("SOPORTE_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Opens the database, applies migrations and returns the use cases over it.
pub(crate) async fn open(database: &Secret, settings: Settings) -> Result<Services, String> {
    Services::open(database.expose(), settings)
        .await
        .map_err(|e| format!("failed to open the database: {e}"))
}

/// A service error as one line for the terminal.
pub(crate) fn describe(e: crate::service::Error) -> String {
    match e {
        crate::service::Error::Domain(d) => d.message(),
        other => other.to_string(),
    }
}
