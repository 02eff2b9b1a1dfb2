-- Issue 31, expand: organizations (team wallets), their members and projects, and whom usage was for.
-- New tables the previous release never reads, and nullable columns it does not write (its rows read as null: usage
-- by no member and no project). An organization's wallet is an ordinary qubrid_wallets row keyed by the organization's id.
CREATE TABLE IF NOT EXISTS qubrid_organizations (
    org_id      text        PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS qubrid_org_members (
    org_id          text        NOT NULL REFERENCES qubrid_organizations (org_id),
    user_id         text        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('owner', 'billing', 'member')),
    monthly_budget  bigint      NULL CHECK (monthly_budget >= 0),
    added_at        timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
-- GET /v1/me/orgs: the organizations of a user.
CREATE INDEX IF NOT EXISTS qubrid_org_members_user ON qubrid_org_members (user_id);

CREATE TABLE IF NOT EXISTS qubrid_org_projects (
    org_id          text        NOT NULL REFERENCES qubrid_organizations (org_id),
    project_id      text        NOT NULL,
    monthly_budget  bigint      NULL CHECK (monthly_budget >= 0),
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, project_id)
);

-- Usage billed to an organization names the member it was for and, optionally, a project.
ALTER TABLE qubrid_ledger ADD COLUMN IF NOT EXISTS member_id text NULL;
ALTER TABLE qubrid_ledger ADD COLUMN IF NOT EXISTS project_id text NULL;
