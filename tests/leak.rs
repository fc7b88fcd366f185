//! Secrets never leave through `validate`: a token written into a runbook by
//! mistake is reported, masked, and not echoed in any output format.

use crate::support::Test;

const TOKEN: &str = "cfut_Zq8vLrT3nWx5YbK2pMd7Hs9Jf4Gc1Ae6";
const PLAIN: &str = "hunter2-is-not-a-password-Q7";

fn leaky_runbook() -> String {
    format!(
        r#"runbook: leaky
inputs:
  token: {{ secret: true, default: "{PLAIN}" }}
steps:
  - id: check
    http:
      url: "https://api.example.com/verify?token={TOKEN}"
      bearer: "{PLAIN}"
      headers:
        Authorization: 'Bearer {TOKEN}'
  - id: note
    manual: "old token was {TOKEN}, new one is {{{{ inputs.token }}}}"
"#
    )
}

#[test]
fn no_format_echoes_a_literal_secret() {
    for format in ["human", "json", "github", "sarif", "junit"] {
        let ran = Test::new()
            .file("leaky.yaml", leaky_runbook())
            .args(["validate", "leaky.yaml", "--format", format])
            .status(1);
        let all = format!("{}{}", ran.stdout, ran.stderr);
        assert!(
            all.contains("RB022"),
            "{format}: the literal secret is not reported:\n{all}"
        );
        for secret in [TOKEN, PLAIN, &TOKEN[..20], &PLAIN[..12]] {
            assert!(
                !all.contains(secret),
                "{format} output leaks {secret:?}:\n{all}"
            );
        }
        assert!(
            all.contains("••••"),
            "{format}: the masked form is shown:\n{all}"
        );
    }
}
