using Npgsql;
using NpgsqlTypes;

namespace Qubrid.Organizations;

/// <summary>
/// Organizations, their members and projects (migration 0050): plain tables, written by the organization's grain (one
/// activation per organization, so its writes never race) and read by it on activation and by the directory.
/// </summary>
public sealed class OrganizationStore(NpgsqlDataSource db)
{
    public async Task<OrganizationView?> LoadAsync(string orgId, CancellationToken ct = default)
    {
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(Command("SELECT name, created_at FROM qubrid_organizations WHERE org_id = $1", orgId));
        batch.BatchCommands.Add(Command(
            "SELECT user_id, role, monthly_budget, added_at FROM qubrid_org_members WHERE org_id = $1 ORDER BY added_at, user_id", orgId));
        batch.BatchCommands.Add(Command(
            "SELECT project_id, monthly_budget, created_at FROM qubrid_org_projects WHERE org_id = $1 ORDER BY project_id", orgId));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        var name = reader.GetString(0);
        var createdAt = new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero);
        await reader.NextResultAsync(ct);
        var members = new List<OrgMember>();
        while (await reader.ReadAsync(ct))
        {
            if (!OrgRoles.TryParse(reader.GetString(1), out var role)) throw new InvalidOperationException($"Unknown role '{reader.GetString(1)}' in {orgId}.");
            members.Add(new OrgMember(reader.GetString(0), role, Budget(reader, 2), new DateTimeOffset(reader.GetDateTime(3), TimeSpan.Zero)));
        }
        await reader.NextResultAsync(ct);
        var projects = new List<OrgProject>();
        while (await reader.ReadAsync(ct))
            projects.Add(new OrgProject(reader.GetString(0), Budget(reader, 1), new DateTimeOffset(reader.GetDateTime(2), TimeSpan.Zero)));
        return new OrganizationView(orgId, name, createdAt, members, projects);
    }

    /// <summary>Inserts the organization and its first owner in one transaction; false when it exists already.</summary>
    public async Task<bool> CreateAsync(string orgId, string name, string? ownerUserId, DateTimeOffset now, CancellationToken ct = default)
    {
        await using var batch = db.CreateBatch();
        batch.BatchCommands.Add(Command(
            "INSERT INTO qubrid_organizations (org_id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (org_id) DO NOTHING", orgId, name, now.UtcDateTime));
        if (ownerUserId is not null)
        {
            // Only with the organization it creates: a repeat must not make another user an owner.
            batch.BatchCommands.Add(Command(
                """
                INSERT INTO qubrid_org_members (org_id, user_id, role, monthly_budget, added_at)
                SELECT $1, $2, 'owner', NULL, $3 WHERE NOT EXISTS (SELECT 1 FROM qubrid_org_members WHERE org_id = $1)
                ON CONFLICT (org_id, user_id) DO NOTHING
                """, orgId, ownerUserId, now.UtcDateTime));
        }
        // One round trip, one implicit transaction: the organization and its owner are written together or not at all.
        await batch.ExecuteNonQueryAsync(ct);
        return batch.BatchCommands[0].RecordsAffected == 1;
    }

    public async Task SetMemberAsync(string orgId, OrgMember member, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            """
            INSERT INTO qubrid_org_members (org_id, user_id, role, monthly_budget, added_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role, monthly_budget = excluded.monthly_budget
            """);
        Add(cmd.Parameters, orgId, member.UserId, member.Role.ToWire());
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)member.MonthlyBudget?.Value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        cmd.Parameters.Add(new NpgsqlParameter { Value = member.AddedAt.UtcDateTime });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task RemoveMemberAsync(string orgId, string userId, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand("DELETE FROM qubrid_org_members WHERE org_id = $1 AND user_id = $2");
        Add(cmd.Parameters, orgId, userId);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public async Task SetProjectAsync(string orgId, OrgProject project, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            """
            INSERT INTO qubrid_org_projects (org_id, project_id, monthly_budget, created_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (org_id, project_id) DO UPDATE SET monthly_budget = excluded.monthly_budget
            """);
        Add(cmd.Parameters, orgId, project.ProjectId);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)project.MonthlyBudget?.Value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        cmd.Parameters.Add(new NpgsqlParameter { Value = project.CreatedAt.UtcDateTime });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The organizations a user belongs to, by id.</summary>
    public async Task<IReadOnlyList<OrgMembership>> OrganizationsOfAsync(string userId, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            """
            SELECT o.org_id, o.name, m.role FROM qubrid_org_members m JOIN qubrid_organizations o ON o.org_id = m.org_id
            WHERE m.user_id = $1 ORDER BY o.org_id LIMIT 1000
            """);
        Add(cmd.Parameters, userId);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<OrgMembership>();
        while (await reader.ReadAsync(ct))
        {
            if (OrgRoles.TryParse(reader.GetString(2), out var role)) list.Add(new OrgMembership(reader.GetString(0), reader.GetString(1), role));
        }
        return list;
    }

    private static Micros? Budget(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : new Micros(reader.GetInt64(ordinal));

    private static void Add(NpgsqlParameterCollection parameters, params object[] values)
    {
        foreach (var v in values) parameters.Add(new NpgsqlParameter { Value = v });
    }

    private static NpgsqlBatchCommand Command(string sql, params object[] args)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var arg in args) command.Parameters.Add(new NpgsqlParameter { Value = arg });
        return command;
    }
}
