//! Decoding the actions: `manual`, `prompt`, the settings actions, `http`,
//! `command`, `wait_for` and child `runbook`s.

use super::{Decoder, Fields};
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{
    Action, Command, FileSource, GenerateSecret, HttpRequest, Method, Probe, Prompt, SetSetting,
    SettingRef, Spanned, Template, TlsFiles, WaitFor, WriteFile,
};
use crate::document::node::{Node, Value};

const PROMPT_KEYS: &[&str] = &["message", "secret", "pattern", "choices", "default"];
const HTTP_KEYS: &[&str] = &[
    "method", "url", "headers", "bearer", "json", "body", "timeout", "tls", "resolve",
];
const TLS_KEYS: &[&str] = &["ca", "cert", "key"];
const COMMAND_KEYS: &[&str] = &["run", "env", "cwd"];
const WAIT_KEYS: &[&str] = &["http", "command", "expect", "interval", "timeout"];

impl Decoder<'_> {
    pub(super) fn action(&mut self, key: &str, node: &Node) -> Option<Action> {
        Some(match key {
            "manual" => Action::Manual(self.template(node, "`manual`")?),
            "prompt" => Action::Prompt(self.prompt(node)?),
            "read_setting" => {
                let fields = self.fields(node, "`read_setting`", &["file", "key"])?;
                let (file, key) = self.file_and_key(&fields, "read_setting")?;
                Action::ReadSetting(SettingRef { file, key })
            }
            "set_setting" => Action::SetSetting(self.set_setting(node)?),
            "restore_setting" => {
                Action::RestoreSetting(self.id(node, "`restore_setting`", false)?)
            }
            "write_file" => Action::WriteFile(self.write_file(node)?),
            "generate_secret" => Action::GenerateSecret(self.generate_secret(node)?),
            "restore_file" => Action::RestoreFile(self.id(node, "`restore_file`", false)?),
            "http" => Action::Http(self.http(node)?),
            "command" => Action::Command(self.command(node)?),
            "wait_for" => Action::WaitFor(Box::new(self.wait_for(node)?)),
            _ => Action::Runbook(self.text(node, "`runbook`")?),
        })
    }

    /// `{length, alphabet}`: a length from 1 to the maximum, an alphabet of two
    /// or more characters, each given once.
    fn generate_secret(&mut self, node: &Node) -> Option<GenerateSecret> {
        let fields = self.fields(node, "`generate_secret`", &["length", "alphabet"])?;
        let length = match fields.get("length") {
            Some(n) => self.integer(n, "`length`"),
            None => {
                self.missing(
                    &fields,
                    "length",
                    "`generate_secret`",
                    "say how many characters to draw, e.g. `length: 32`",
                );
                None
            }
        }?;
        let max = GenerateSecret::MAX_LENGTH;
        let Some(count) = u32::try_from(length.value)
            .ok()
            .filter(|n| (1..=max).contains(n))
        else {
            self.report(
                Diagnostic::new(
                    Code::BadGenerator,
                    length.span,
                    format!("a secret of length {} cannot be drawn", length.value),
                )
                .help(format!("give a length from 1 to {max}")),
            );
            return None;
        };
        let alphabet = fields
            .get("alphabet")
            .and_then(|n| self.text(n, "`alphabet`"));
        if let Some(alphabet) = &alphabet {
            let chars: Vec<char> = alphabet.value.chars().collect();
            let repeated = chars
                .iter()
                .enumerate()
                .find(|(i, c)| chars[..*i].contains(c))
                .map(|(_, c)| *c);
            let problem = if chars.len() < 2 {
                Some("it needs at least two characters to draw from".to_owned())
            } else if chars.len() > 256 {
                Some(format!(
                    "it has {} characters, more than the 256 one random byte can choose from",
                    chars.len()
                ))
            } else if let Some(c) = repeated {
                Some(format!(
                    "{c:?} is given twice, which would make it likelier than the others"
                ))
            } else {
                chars
                    .iter()
                    .find(|c| c.is_control())
                    .map(|c| format!("{c:?} is a control character"))
            };
            if let Some(problem) = problem {
                self.report(
                    Diagnostic::new(Code::BadGenerator, alphabet.span, format!("this `alphabet` cannot be drawn from: {problem}"))
                        .help("list each character once, e.g. `alphabet: \"abcdefghijklmnopqrstuvwxyz0123456789\"`, or leave it out for letters and digits"),
                );
                return None;
            }
        }
        let generator = GenerateSecret {
            length: Spanned::new(count, length.span),
            alphabet,
        };
        if generator.bits() < GenerateSecret::MIN_BITS {
            let bits = generator.bits();
            let size = generator.alphabet().len();
            #[allow(clippy::cast_precision_loss)]
            let needed = (GenerateSecret::MIN_BITS / (size as f64).log2()).ceil();
            self.report(
                Diagnostic::new(Code::WeakSecret, length.span, format!("a secret of {count} characters from {size} has {bits:.0} bits: it can be guessed offline"))
                    .help(format!("draw {needed} characters or more for 64 bits")),
            );
        }
        Some(generator)
    }

    /// `{path, content | from, mode}`.
    fn write_file(&mut self, node: &Node) -> Option<WriteFile> {
        let fields = self.fields(node, "`write_file`", &["path", "content", "from", "mode"])?;
        let path = match fields.get("path") {
            Some(n) => self.template(n, "`path`"),
            None => {
                self.missing(
                    &fields,
                    "path",
                    "`write_file`",
                    "add the `path` of the file to write",
                );
                None
            }
        };
        let source = match (fields.get("content"), fields.get("from")) {
            (Some(content), None) => self.template(content, "`content`").map(FileSource::Content),
            (None, Some(from)) => self.template(from, "`from`").map(FileSource::From),
            (Some(_), Some(_)) => {
                self.report(
                    Diagnostic::new(
                        Code::FileSource,
                        fields.key_span("from").unwrap_or(fields.span),
                        "`write_file` has both `content` and `from`",
                    )
                    .help("write the text with `content`, or copy a file with `from`, not both"),
                );
                None
            }
            (None, None) => {
                self.report(
                    Diagnostic::new(
                        Code::FileSource,
                        fields.span,
                        "`write_file` has neither `content` nor `from`",
                    )
                    .help("say what to write: `content: TEXT` or `from: PATH`"),
                );
                None
            }
        };
        let mode = fields.get("mode").and_then(|n| self.file_mode(n));
        Some(WriteFile {
            path: path?,
            source: source?,
            mode,
        })
    }

    /// `mode: 0640` or `"0640"`: octal, as `chmod` reads it, whatever YAML
    /// would make of the digits.
    fn file_mode(&mut self, node: &Node) -> Option<Spanned<u32>> {
        let text = self.text(node, "`mode`")?;
        let digits = text.value.strip_prefix("0o").unwrap_or(&text.value);
        match u32::from_str_radix(digits, 8) {
            Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Some(Spanned::new(mode, node.span)),
            _ => {
                self.report(
                    Diagnostic::new(Code::InvalidValue, node.span, format!("`{}` is not a file mode", text.value))
                        .help("write the permission bits in octal, as chmod takes them, e.g. `mode: \"0640\"`"),
                );
                None
            }
        }
    }

    /// `{file, key, value}` for one key, `{file, values: {KEY: VALUE, …}}` for
    /// several written at once.
    fn set_setting(&mut self, node: &Node) -> Option<SetSetting> {
        let fields = self.fields(node, "`set_setting`", &["file", "key", "value", "values"])?;
        let Some(values_node) = fields.get("values") else {
            let file_key = self.file_and_key(&fields, "set_setting");
            let value = match fields.get("value") {
                Some(n) => self.template(n, "`value`"),
                None => {
                    self.missing(
                        &fields,
                        "value",
                        "`set_setting`",
                        "add the `value` to write",
                    );
                    None
                }
            };
            let ((file, key), value) = (file_key?, value?);
            return Some(SetSetting {
                file,
                values: vec![(key, value)],
            });
        };
        for single in ["key", "value"] {
            if let Some(span) = fields.key_span(single) {
                self.report(
                    Diagnostic::new(Code::SettingForm, span, format!("`set_setting` has both `values` and `{single}`"))
                        .help("write one key with `key` and `value`, or several with `values: {KEY: VALUE, …}`, not both"),
                );
            }
        }
        let file = match fields.get("file") {
            Some(n) => self.template(n, "`file`"),
            None => {
                self.missing(
                    &fields,
                    "file",
                    "`set_setting`",
                    "add the dotenv `file` to use, e.g. `file: .env`",
                );
                None
            }
        };
        let values = self.template_map(values_node, "`values`");
        for (key, _) in &values {
            self.check_setting_key(key);
        }
        if values.is_empty()
            && matches!(&values_node.value, Value::Map(entries) if entries.is_empty())
        {
            self.report(
                Diagnostic::new(
                    Code::SettingForm,
                    values_node.span,
                    "`values` names no key to write",
                )
                .help("give at least one `KEY: VALUE`"),
            );
            return None;
        }
        Some(SetSetting {
            file: file?,
            values,
        })
    }

    pub(super) fn file_and_key(
        &mut self,
        fields: &Fields<'_>,
        what: &str,
    ) -> Option<(Template, Spanned<String>)> {
        let file = match fields.get("file") {
            Some(n) => self.template(n, "`file`"),
            None => {
                self.missing(
                    fields,
                    "file",
                    &format!("`{what}`"),
                    "add the dotenv `file` to use, e.g. `file: .env`",
                );
                None
            }
        };
        let key = match fields.get("key") {
            Some(n) => self.text(n, "`key`"),
            None => {
                self.missing(
                    fields,
                    "key",
                    &format!("`{what}`"),
                    "add the `key` (variable name) in that file",
                );
                None
            }
        };
        if let Some(key) = &key {
            self.check_setting_key(key);
        }
        Some((file?, key?))
    }

    fn check_setting_key(&mut self, key: &Spanned<String>) {
        let valid = key
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            self.report(
                Diagnostic::new(Code::InvalidValue, key.span, format!("`{}` is not a dotenv variable name", key.value))
                    .help("use letters, digits and `_`, not starting with a digit, e.g. `CLOUDFLARE_API_TOKEN`"),
            );
        }
    }

    pub(super) fn prompt(&mut self, node: &Node) -> Option<Prompt> {
        let mut prompt = Prompt {
            message: None,
            secret: None,
            pattern: None,
            choices: Vec::new(),
            default: None,
        };
        if let Value::Str(_) = node.value {
            prompt.message = self.template(node, "`prompt`");
            return Some(prompt);
        }
        let fields = self.fields(node, "`prompt`", PROMPT_KEYS)?;
        prompt.message = fields
            .get("message")
            .and_then(|n| self.template(n, "`message`"));
        prompt.secret = fields
            .get("secret")
            .and_then(|n| self.boolean(n, "`secret`"));
        prompt.pattern = fields
            .get("pattern")
            .and_then(|n| self.regex(n, "`pattern`", crate::document::pattern::Use::Whole));
        if let Some(n) = fields.get("choices") {
            prompt.choices = self.string_list(n, "`choices`");
        }
        prompt.default = fields
            .get("default")
            .and_then(|n| self.template(n, "`default`"));
        Some(prompt)
    }

    pub(super) fn http(&mut self, node: &Node) -> Option<HttpRequest> {
        if let Value::Str(_) = node.value {
            return Some(HttpRequest {
                method: None,
                url: self.template(node, "`http`")?,
                headers: Vec::new(),
                bearer: None,
                json: None,
                body: None,
                timeout: None,
                tls: None,
                resolve: Vec::new(),
            });
        }
        let fields = self.fields(node, "`http`", HTTP_KEYS)?;
        let method = fields.get("method").and_then(|n| {
            let text = self.text(n, "`method`")?;
            let method = Method::parse(&text.value);
            if method.is_none() {
                let help = match Method::parse(&text.value.to_ascii_uppercase()) {
                    Some(m) => format!("methods are upper case: did you mean `{}`?", m.as_str()),
                    None => format!("use one of {}", Method::NAMES.join(", ")),
                };
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        n.span,
                        format!("`{}` is not an HTTP method", text.value),
                    )
                    .help(help),
                );
            }
            method.map(|m| Spanned::new(m, n.span))
        });
        let url = match fields.get("url") {
            Some(n) => self.template(n, "`url`"),
            None => {
                self.missing(&fields, "url", "`http`", "add the `url` to request");
                None
            }
        };
        let headers = fields
            .get("headers")
            .map(|n| self.template_map(n, "`headers`"))
            .unwrap_or_default();
        if let (Some(_), Some(_)) = (fields.get("json"), fields.get("body")) {
            let span = fields.key_span("body").unwrap_or(fields.span);
            self.report(
                Diagnostic::new(
                    Code::InvalidValue,
                    span,
                    "`http` takes either `json` or `body`, not both",
                )
                .help("send the payload once: `json` for a JSON body, `body` for raw text"),
            );
        }
        Some(HttpRequest {
            method,
            url: url?,
            headers,
            bearer: fields
                .get("bearer")
                .and_then(|n| self.template(n, "`bearer`")),
            json: fields
                .get("json")
                .inspect(|n| self.duplicate_keys(n, "the `json` body"))
                .cloned(),
            body: fields.get("body").and_then(|n| self.template(n, "`body`")),
            timeout: fields
                .get("timeout")
                .and_then(|n| self.duration(n, "`timeout`")),
            tls: fields
                .get("tls")
                .and_then(|n| self.tls_files(n))
                .map(Box::new),
            resolve: fields
                .get("resolve")
                .map(|n| self.template_map(n, "`resolve`"))
                .unwrap_or_default()
                .into_iter()
                // The host is a template too: a runbook for any server names it
                // from an input, as it does the URL.
                .map(|(host, address)| {
                    let host = Template {
                        source: host.value,
                        span: host.span,
                    };
                    (host, address)
                })
                .collect(),
        })
    }

    /// `tls: {ca, cert, key}`; a client certificate comes with its key.
    fn tls_files(&mut self, node: &Node) -> Option<TlsFiles> {
        let fields = self.fields(node, "`tls`", TLS_KEYS)?;
        let path = |decoder: &mut Self, key: &str| {
            fields
                .get(key)
                .and_then(|n| decoder.template(n, &format!("`tls.{key}`")))
        };
        let files = TlsFiles {
            span: fields.span,
            ca: path(self, "ca"),
            cert: path(self, "cert"),
            key: path(self, "key"),
        };
        let lone = match (&files.cert, &files.key) {
            (Some(cert), None) => Some((
                cert.span,
                "`tls.cert` has no `key`",
                "add `key:` with the PEM file of the certificate's private key",
            )),
            (None, Some(key)) => Some((
                key.span,
                "`tls.key` has no `cert`",
                "add `cert:` with the PEM file of the client certificate the key belongs to",
            )),
            _ => None,
        };
        if let Some((span, message, help)) = lone {
            self.report(Diagnostic::new(Code::TlsKeyPair, span, message).help(help));
        }
        if files.ca.is_none() && files.cert.is_none() && files.key.is_none() {
            self.report(
                Diagnostic::new(Code::EmptyCheck, fields.span, "`tls` names no file")
                    .help("give `ca` (the CA to trust), `cert` and `key` (a client certificate), or remove `tls`"),
            );
        }
        Some(files)
    }

    pub(super) fn command(&mut self, node: &Node) -> Option<Command> {
        if let Value::Str(_) = node.value {
            return Some(Command {
                run: self.template(node, "`command`")?,
                env: Vec::new(),
                cwd: None,
            });
        }
        if let Value::Seq(_) = node.value {
            self.wrong_type(
                node,
                "`command`",
                "a string (run by `sh -c`) or a map with `run`",
            );
            return None;
        }
        let fields = self.fields(node, "`command`", COMMAND_KEYS)?;
        let run = match fields.get("run") {
            Some(n) => self.template(n, "`run`"),
            None => {
                self.missing(
                    &fields,
                    "run",
                    "`command`",
                    "add `run:` with the command line",
                );
                None
            }
        };
        let env = fields
            .get("env")
            .map(|n| self.template_map(n, "`env`"))
            .unwrap_or_default();
        Some(Command {
            run: run?,
            env,
            cwd: fields.get("cwd").and_then(|n| self.template(n, "`cwd`")),
        })
    }

    pub(super) fn wait_for(&mut self, node: &Node) -> Option<WaitFor> {
        let fields = self.fields(node, "`wait_for`", WAIT_KEYS)?;
        let probe = match (fields.get("http"), fields.get("command")) {
            (Some(http), None) => self.http(http).map(|r| Probe::Http(Box::new(r))),
            (None, Some(command)) => self.command(command).map(Probe::Command),
            (Some(_), Some(_)) => {
                let span = fields.key_span("command").unwrap_or(fields.span);
                self.report(
                    Diagnostic::new(
                        Code::TwoActions,
                        span,
                        "`wait_for` polls one thing: `http` or `command`, not both",
                    )
                    .help("split the wait into two steps"),
                );
                None
            }
            (None, None) => {
                self.report(
                    Diagnostic::new(
                        Code::MissingKey,
                        fields.span,
                        "`wait_for` has neither `http` nor `command`",
                    )
                    .help("say what to poll: `http: {url: …}` or `command: …`"),
                );
                None
            }
        };
        let expect = fields.get("expect").and_then(|n| self.expect(n));
        if let (Some(expect), Some(probe)) = (&expect, &probe) {
            self.check_expect_kind(expect, matches!(probe, Probe::Http(_)));
        }
        Some(WaitFor {
            span: fields.span,
            probe: probe?,
            expect,
            interval: fields
                .get("interval")
                .and_then(|n| self.duration(n, "`interval`")),
            timeout: fields
                .get("timeout")
                .and_then(|n| self.duration(n, "`timeout`")),
        })
    }
}
