-- Issue 29, expand: which cluster version each silo process can run. A silo of this release registers itself here before it
-- joins the cluster; a silo of the previous release never does. finalize-upgrade refuses while a silo that is alive in
-- OrleansMembershipTable has no row here allowing the version it finalizes (ClusterVersion.FinalizeAsync).
CREATE TABLE IF NOT EXISTS qubrid_silo_releases (
    deployment_id  text        NOT NULL,
    address        text        NOT NULL,
    port           integer     NOT NULL,
    generation     integer     NOT NULL,
    max_version    integer     NOT NULL,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, address, port, generation)
);
