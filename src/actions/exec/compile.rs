//! An `exec:` block compiled at load, every problem reported at its key:
//! the program must be a literal absolute path (a payload never chooses
//! what runs), env names literal and well-formed, the timeout and limit
//! positive, the working directory absolute, `user:` only under root.

use crate::actions::job::DeliveryKeys;
use crate::config::exec_spec::{ExecSpec, ExecStdinSpec};
use crate::config::ConfigError;
use crate::template::{self, Escape, Text};

use super::{user, Exec, Stdin, DEFAULT_MAX_CONCURRENT, DEFAULT_TIMEOUT};

impl Exec {
    /// Compiles the `exec:` found at `path` (`actions[1].exec`); `at` is the
    /// action's place in its route (`actions[1]`).
    pub(crate) fn compile(spec: &ExecSpec, path: &str, at: &str, errors: &mut Vec<ConfigError>) -> Option<Exec> {
        let before = errors.len();
        let program = program(spec, path, errors);
        let args: Vec<Text> = spec
            .command
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(i, arg)| Text::compile(arg, Escape::None, &format!("{path}.command[{i}]"), errors))
            .collect();
        let mut env = Vec::with_capacity(spec.env.len());
        for (name, value) in &spec.env {
            let key = format!("{path}.env.{name}");
            if !is_env_name(name) {
                errors.push(ConfigError::new(
                    key,
                    format!(
                        "invalid environment variable name {name:?} (letters, digits and _, not starting with a digit)"
                    ),
                ));
                continue;
            }
            if name.starts_with("HOOKROUTE_") {
                errors.push(ConfigError::new(key, "names starting with HOOKROUTE_ are set by hookroute"));
                continue;
            }
            env.extend(Text::compile(value, Escape::None, &key, errors).map(|t| (name.clone(), t)));
        }
        let DeliveryKeys { timeout, retry, ordering_key } = DeliveryKeys::compile(
            spec.timeout.as_ref(),
            spec.retry.as_ref(),
            spec.ordering_key.as_ref(),
            DEFAULT_TIMEOUT,
            path,
            errors,
        );
        let max_concurrent = spec.max_concurrent.unwrap_or(DEFAULT_MAX_CONCURRENT);
        if max_concurrent == 0 {
            errors.push(ConfigError::new(format!("{path}.max_concurrent"), "must be at least 1"));
        }
        if let Some(dir) = &spec.working_dir {
            if template::is_template(dir) || !dir.starts_with('/') {
                errors.push(ConfigError::new(
                    format!("{path}.working_dir"),
                    format!("{dir:?} must be a literal absolute path"),
                ));
            }
        }
        let user = spec.user.as_deref().and_then(|name| {
            user::resolve(name).map_err(|e| errors.push(ConfigError::new(format!("{path}.user"), e.to_string()))).ok()
        });
        let program = program?;
        if errors.len() > before {
            return None;
        }
        Some(Exec {
            program,
            args,
            env,
            stdin: match spec.stdin {
                Some(ExecStdinSpec::Body) => Stdin::Body,
                Some(ExecStdinSpec::None) | None => Stdin::None,
            },
            timeout,
            max_concurrent,
            working_dir: spec.working_dir.clone(),
            user,
            retry,
            ordering_key,
            at: at.to_string(),
        })
    }
}

/// `command[0]`: a literal absolute path, so what runs is decided by the
/// config alone and not by `PATH` or a payload.
fn program(spec: &ExecSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<String> {
    let Some(first) = spec.command.first() else {
        errors.push(ConfigError::new(
            format!("{path}.command"),
            "is empty: give the program's absolute path, then its arguments",
        ));
        return None;
    };
    let key = format!("{path}.command[0]");
    let problem = if template::is_template(first) {
        Some("the program must be literal, not a template (arguments after it may be templates)".to_string())
    } else if !first.starts_with('/') {
        Some(format!(
            "the program {first:?} must be an absolute path (e.g. /usr/local/bin/{first}); it is not looked up in PATH"
        ))
    } else if first.contains('\0') {
        Some("the program's path contains a NUL byte".to_string())
    } else {
        None
    };
    match problem {
        Some(message) => {
            errors.push(ConfigError::new(key, message));
            None
        }
        None => Some(first.clone()),
    }
}

/// A POSIX environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> ExecSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn problems(yaml: &str) -> Vec<String> {
        let mut errors = Vec::new();
        let compiled = Exec::compile(&spec(yaml), "actions[0].exec", "actions[0]", &mut errors);
        assert_eq!(compiled.is_none(), !errors.is_empty());
        errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn the_program_is_literal_and_absolute() {
        let got = problems("command: [deploy.sh, x]");
        assert!(got[0].contains("actions[0].exec.command[0]") && got[0].contains("absolute path"), "{got:?}");
        let got = problems("command: ['/bin/{{ json.x }}']");
        assert!(got[0].contains("command[0]") && got[0].contains("not a template"), "{got:?}");
        let got = problems("command: []");
        assert!(got[0].contains("actions[0].exec.command") && got[0].contains("empty"), "{got:?}");
        assert!(problems("command: [/bin/echo, '{{ json.x }}', '-n']").is_empty());
    }

    #[test]
    fn env_names_timeouts_and_dirs_are_checked() {
        let got = problems("command: [/bin/true]\nenv: {'1X': a, 'A-B': b, HOOKROUTE_ROUTE: c, OK: '{{ json.x }}'}");
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().any(|e| e.contains("env.1X")), "{got:?}");
        let got = problems("command: [/bin/true]\ntimeout: 0s\nmax_concurrent: 0\nworking_dir: relative");
        assert_eq!(got.len(), 3, "{got:?}");
    }

    #[test]
    fn defaults() {
        let mut errors = Vec::new();
        let exec = Exec::compile(&spec("command: [/bin/true]"), "e", "actions[0]", &mut errors).unwrap();
        assert_eq!((exec.timeout, exec.max_concurrent, exec.stdin), (DEFAULT_TIMEOUT, 1, Stdin::None));
    }
}
