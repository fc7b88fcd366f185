//! The sandbox's fixed world: one user's API tokens (with the permissions that
//! decide 403s) and the zones and DNS records they can see.
//!
//! Everything is deterministic so that a demo, a test and a bug report all talk
//! about the same ids. The token values are fake: they only ever work against the
//! sandbox, which is why `runbook sandbox` may print them.

/// The value of each seeded token (or, from [`Sandbox::token_ids`], its id).
///
/// [`Sandbox::token_ids`]: super::Sandbox::token_ids
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededTokens {
    /// Active; Zone:Read, Zone Settings:Read, DNS:Edit, API Tokens:Edit. It ends in
    /// `egC_` like the token in the incident that started this project, and it may
    /// revoke itself, so the rotation runbook can delete it with its own value.
    pub old: String,
    /// Active; the "Edit zone DNS" template: DNS:Edit, Zone:Read, Zone Settings:Read.
    pub new: String,
    /// Active; Zone:Read only, so DNS records answer 403 (code 9109).
    pub limited: String,
    /// Disabled in the dashboard: verify reports `disabled`, everything else 401.
    pub disabled: String,
    /// Past its `expires_on`: verify reports `expired`, everything else 401.
    pub expired: String,
}

/// One permission group of Cloudflare's token policies. Edit implies Read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ZoneRead,
    ZoneSettingsRead,
    DnsRead,
    DnsEdit,
    ApiTokensRead,
    ApiTokensEdit,
}

impl Permission {
    /// The permission group's id and name as Cloudflare's token details list them.
    pub fn group(self) -> (&'static str, &'static str) {
        match self {
            Permission::ZoneRead => ("c8fed203ed3043cba015a93ad1616f1f", "Zone Read"),
            Permission::ZoneSettingsRead => {
                ("517b21aee92c4d89936c976ba6e4be55", "Zone Settings Read")
            }
            Permission::DnsRead => ("82e64a83756745bbbb1c9c2701bf816b", "DNS Read"),
            Permission::DnsEdit => ("4755a26eedb94da69e1066d98aa820be", "DNS Write"),
            Permission::ApiTokensRead => ("0cc3a61731504c89b99ec1be78b77aa0", "API Tokens Read"),
            Permission::ApiTokensEdit => ("686d18d5ac6c441c867cbf6771e58a0a", "API Tokens Write"),
        }
    }

    /// Whether a policy granted on zones (as opposed to on the user) holds it.
    pub fn on_zones(self) -> bool {
        !matches!(self, Permission::ApiTokensRead | Permission::ApiTokensEdit)
    }
}

/// What the dashboard says about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Expired => "expired",
        }
    }
}

/// Which field of [`SeededTokens`] a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Old,
    New,
    Limited,
    Disabled,
    Expired,
}

/// A token as the sandbox's account holds it.
#[derive(Debug, Clone)]
pub struct Token {
    pub role: Role,
    pub id: &'static str,
    pub name: &'static str,
    pub value: &'static str,
    pub status: Status,
    pub permissions: &'static [Permission],
    pub issued_on: &'static str,
    pub expires_on: Option<&'static str>,
}

impl Token {
    /// Whether the token holds `wanted`, counting Edit as Read.
    pub fn may(&self, wanted: Permission) -> bool {
        self.permissions.iter().any(|&held| {
            held == wanted
                || matches!(
                    (held, wanted),
                    (Permission::DnsEdit, Permission::DnsRead)
                        | (Permission::ApiTokensEdit, Permission::ApiTokensRead)
                )
        })
    }
}

/// The id of the user who owns every seeded token (the user-level policy's resource).
pub const USER_ID: &str = "7c5dae5552338874e5053f2534d2767a";
/// The account that owns every seeded zone.
pub const ACCOUNT_ID: &str = "01a7362d577a6c3019a474fd6f485823";

/// The permissions of a token made from the dashboard's "Edit zone DNS" template.
pub const EDIT_ZONE_DNS: &[Permission] = &[
    Permission::DnsEdit,
    Permission::ZoneRead,
    Permission::ZoneSettingsRead,
];

/// The seeded tokens, in the order the dashboard lists them.
pub fn tokens() -> Vec<Token> {
    vec![
        Token {
            role: Role::Old,
            id: "4b1f0e5d8c2a47e3a9d6b7c5e1f08a3d",
            name: "ops-center (2024)",
            value: "cfut_sbx7Qm2ZrV9tKp4WnX8cLd3HfJ6yBa1Ns5uegC_",
            status: Status::Active,
            permissions: &[
                Permission::ZoneRead,
                Permission::ZoneSettingsRead,
                Permission::DnsEdit,
                Permission::ApiTokensEdit,
            ],
            issued_on: "2024-03-11T08:42:17Z",
            expires_on: None,
        },
        Token {
            role: Role::New,
            id: "9e8d7c6b5a4f43e2b1c0d9e8f7a6b5c4",
            name: "ops-center (Edit zone DNS)",
            value: "cfut_sbx5Ty8RbE2wQs7ZkM4pGv9XcN3hLd6Jq1tR7kd",
            status: Status::Active,
            permissions: EDIT_ZONE_DNS,
            issued_on: "2025-10-23T09:14:02Z",
            expires_on: None,
        },
        Token {
            role: Role::Limited,
            id: "2f6e4d8a1c3b45f7a0e9d2c4b6a8f1e3",
            name: "status page (zones only)",
            value: "cfut_sbx3Hn6Wd9Lk2Pq5Vx8Bz1Mc4Rf7Tg0Ys3Ej6aZL9",
            status: Status::Active,
            permissions: &[Permission::ZoneRead],
            issued_on: "2025-01-20T14:05:33Z",
            expires_on: None,
        },
        Token {
            role: Role::Disabled,
            id: "a3c5e7f9b1d2446880ace13579bdf024",
            name: "ci deploy (disabled)",
            value: "cfut_sbx8Kd1Nf4Qh7Sj0Um3Wo6Yq9As2Cu5Ew8Gy1dS4x",
            status: Status::Disabled,
            permissions: EDIT_ZONE_DNS,
            issued_on: "2024-11-02T10:00:00Z",
            expires_on: None,
        },
        Token {
            role: Role::Expired,
            id: "c0ffee00deadbeef1234567890abcdef",
            name: "temporary (expired)",
            value: "cfut_sbx2Ab5Cd8Ef1Gh4Ij7Kl0Mn3Op6Qr9St2Uv5Wx8pQ2",
            status: Status::Expired,
            permissions: EDIT_ZONE_DNS,
            issued_on: "2025-06-01T00:00:00Z",
            expires_on: Some("2025-06-30T00:00:00Z"),
        },
    ]
}

/// One field of every seeded token, e.g. `|token| token.value`.
pub fn seeded(field: impl Fn(&Token) -> &'static str) -> SeededTokens {
    let tokens = tokens();
    let pick = |role: Role| {
        tokens
            .iter()
            .find(|token| token.role == role)
            .map(|token| field(token).to_owned())
            .unwrap_or_default()
    };
    SeededTokens {
        old: pick(Role::Old),
        new: pick(Role::New),
        limited: pick(Role::Limited),
        disabled: pick(Role::Disabled),
        expired: pick(Role::Expired),
    }
}

/// A seeded zone.
#[derive(Debug, Clone)]
pub struct Zone {
    pub id: &'static str,
    pub name: &'static str,
    pub created_on: &'static str,
}

/// A seeded DNS record (its zone is the one whose id it is listed under).
#[derive(Debug, Clone)]
pub struct Record {
    pub id: &'static str,
    pub kind: &'static str,
    pub name: &'static str,
    pub content: &'static str,
    pub proxied: bool,
}

/// Seven zones: more than one page at the smallest `per_page` (5), so paging is
/// exercised, few enough that a fan-out over them stays quick.
pub fn zones() -> Vec<(Zone, Vec<Record>)> {
    let zone = |id, name, created_on| Zone {
        id,
        name,
        created_on,
    };
    let record = |id, kind, name, content, proxied| Record {
        id,
        kind,
        name,
        content,
        proxied,
    };
    vec![
        (
            zone(
                "023e105f4ecef8ad9ca31a8372d0c353",
                "example.com",
                "2023-02-14T10:21:07Z",
            ),
            vec![
                record(
                    "372e67954025e0ba6aaa6d586b9e0b59",
                    "A",
                    "example.com",
                    "198.51.100.4",
                    true,
                ),
                record(
                    "9a1c2b3d4e5f60718293a4b5c6d7e8f9",
                    "CNAME",
                    "www.example.com",
                    "example.com",
                    true,
                ),
                record(
                    "1b2c3d4e5f60718293a4b5c6d7e8f90a",
                    "MX",
                    "example.com",
                    "mail.example.com",
                    false,
                ),
                record(
                    "2c3d4e5f60718293a4b5c6d7e8f90a1b",
                    "TXT",
                    "example.com",
                    "v=spf1 include:_spf.example.com ~all",
                    false,
                ),
            ],
        ),
        (
            zone(
                "1d5fdc9e88c8a8c4518b068cd94331fe",
                "example.net",
                "2023-05-02T16:40:51Z",
            ),
            vec![
                record(
                    "3d4e5f60718293a4b5c6d7e8f90a1b2c",
                    "A",
                    "example.net",
                    "198.51.100.7",
                    true,
                ),
                record(
                    "4e5f60718293a4b5c6d7e8f90a1b2c3d",
                    "AAAA",
                    "example.net",
                    "2001:db8::7",
                    true,
                ),
            ],
        ),
        (
            zone(
                "5f2a7b9c1d3e4f5061728394a5b6c7d8",
                "example.org",
                "2023-08-19T07:03:12Z",
            ),
            vec![
                record(
                    "5f60718293a4b5c6d7e8f90a1b2c3d4e",
                    "A",
                    "example.org",
                    "203.0.113.10",
                    false,
                ),
                record(
                    "60718293a4b5c6d7e8f90a1b2c3d4e5f",
                    "CNAME",
                    "docs.example.org",
                    "example.org",
                    true,
                ),
                record(
                    "718293a4b5c6d7e8f90a1b2c3d4e5f60",
                    "TXT",
                    "_dmarc.example.org",
                    "v=DMARC1; p=quarantine",
                    false,
                ),
            ],
        ),
        (
            zone(
                "6a8b0c2d4e6f48a1b3c5d7e9f0a2b4c6",
                "ops-center.example",
                "2024-01-09T12:00:00Z",
            ),
            vec![
                record(
                    "8293a4b5c6d7e8f90a1b2c3d4e5f6071",
                    "A",
                    "ops-center.example",
                    "192.0.2.40",
                    true,
                ),
                record(
                    "93a4b5c6d7e8f90a1b2c3d4e5f607182",
                    "CNAME",
                    "admin.ops-center.example",
                    "ops-center.example",
                    true,
                ),
            ],
        ),
        (
            zone(
                "7b9c1d3e5f7049b2c4d6e8f0a1b3c5d7",
                "acme.example",
                "2024-04-22T09:30:45Z",
            ),
            vec![
                record(
                    "a4b5c6d7e8f90a1b2c3d4e5f60718293",
                    "A",
                    "acme.example",
                    "192.0.2.41",
                    true,
                ),
                record(
                    "b5c6d7e8f90a1b2c3d4e5f60718293a4",
                    "MX",
                    "acme.example",
                    "mx.acme.example",
                    false,
                ),
            ],
        ),
        (
            zone(
                "8c0d2e4f6a8150c3d5e7f9a1b2c4d6e8",
                "widgets.example",
                "2024-09-30T18:12:09Z",
            ),
            vec![
                record(
                    "c6d7e8f90a1b2c3d4e5f60718293a4b5",
                    "A",
                    "widgets.example",
                    "192.0.2.42",
                    true,
                ),
                record(
                    "d7e8f90a1b2c3d4e5f60718293a4b5c6",
                    "TXT",
                    "widgets.example",
                    "google-site-verification=sandbox",
                    false,
                ),
            ],
        ),
        (
            zone(
                "9d1e3f5a7b9261d4e6f8a0b2c3d5e7f9",
                "billing.example",
                "2025-03-03T03:03:03Z",
            ),
            vec![
                record(
                    "e8f90a1b2c3d4e5f60718293a4b5c6d7",
                    "A",
                    "billing.example",
                    "192.0.2.43",
                    true,
                ),
                record(
                    "f90a1b2c3d4e5f60718293a4b5c6d7e8",
                    "CNAME",
                    "pay.billing.example",
                    "billing.example",
                    true,
                ),
            ],
        ),
    ]
}
