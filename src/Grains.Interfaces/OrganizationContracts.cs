using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>A member's role in an organization (docs/rules.md#R-ORG-2).</summary>
public enum OrgRole : byte
{
    Owner = 1,
    Billing = 2,
    Member = 3,
}

/// <summary>The wire names of organization roles, as stored and shown.</summary>
public static class OrgRoles
{
    public static string ToWire(this OrgRole role) => role switch
    {
        OrgRole.Owner => "owner",
        OrgRole.Billing => "billing",
        OrgRole.Member => "member",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, null),
    };

    public static bool TryParse(string? wire, out OrgRole role)
    {
        foreach (var r in Enum.GetValues<OrgRole>())
        {
            if (r.ToWire() == wire) { role = r; return true; }
        }
        role = default;
        return false;
    }

    /// <summary>Organization ids start with this, so that no user's own wallet can be taken for one.</summary>
    public const string IdPrefix = "org-";

    public static bool IsOrganizationId(string? id) => Ids.IsValid(id) && id!.StartsWith(IdPrefix, StringComparison.Ordinal) && id.Length > IdPrefix.Length;

    /// <summary>The longest organization name accepted.</summary>
    public const int MaxNameLength = 100;
}

/// <summary>A member of an organization with their role and monthly budget (null: none).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.OrgMember")]
public sealed record OrgMember(
    [property: Id(0)] string UserId,
    [property: Id(1)] OrgRole Role,
    [property: Id(2)] Micros? MonthlyBudget,
    [property: Id(3)] DateTimeOffset AddedAt);

/// <summary>A project of an organization with its monthly budget (null: none).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.OrgProject")]
public sealed record OrgProject(
    [property: Id(0)] string ProjectId,
    [property: Id(1)] Micros? MonthlyBudget,
    [property: Id(2)] DateTimeOffset CreatedAt);

/// <summary>An organization: its wallet has the organization's id.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.OrganizationView")]
public sealed record OrganizationView(
    [property: Id(0)] string OrgId,
    [property: Id(1)] string Name,
    [property: Id(2)] DateTimeOffset CreatedAt,
    [property: Id(3)] IReadOnlyList<OrgMember> Members,
    [property: Id(4)] IReadOnlyList<OrgProject> Projects)
{
    public OrgRole? RoleOf(string? userId) => Members.FirstOrDefault(m => m.UserId == userId)?.Role;
}

/// <summary>One organization a user belongs to, with their role.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.OrgMembership")]
public sealed record OrgMembership(
    [property: Id(0)] string OrgId,
    [property: Id(1)] string Name,
    [property: Id(2)] OrgRole Role);

/// <summary>How an organization call ended. Expected outcomes are values, not exceptions.</summary>
public enum OrgOpStatus : byte
{
    Applied = 1,
    Created = 2,
    NotFound = 3,
    Refused = 4,
}

/// <summary>The answer to an organization call: the organization as it now stands, or the refusal's stable code.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.OrgOpResult")]
public sealed record OrgOpResult(
    [property: Id(0)] OrgOpStatus Status,
    [property: Id(1)] OrganizationView? Organization,
    [property: Id(2)] string? ErrorCode = null,
    [property: Id(3)] string? Detail = null)
{
    public bool Succeeded => Status is OrgOpStatus.Applied or OrgOpStatus.Created;

    public static OrgOpResult Refused(string code, string detail) => new(OrgOpStatus.Refused, null, code, detail);

    public static OrgOpResult NotFound(string orgId) =>
        new(OrgOpStatus.NotFound, null, ErrorCodes.OrganizationNotFound, $"Organization '{orgId}' does not exist.");
}

/// <summary>Spending of an organization's wallet by one member and project between two instants.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.TeamSpendRow")]
public sealed record TeamSpendRow(
    [property: Id(0)] string? MemberId,
    [property: Id(1)] string? ProjectId,
    [property: Id(2)] Micros Amount);

/// <summary>
/// An organization (key: its id, e.g. <c>org-acme</c>): its name, members with roles and budgets, and projects with
/// budgets, persisted in PostgreSQL (qubrid_organizations, qubrid_org_members, qubrid_org_projects). It is the
/// authority on membership: every call is answered from state written before the answer.
/// </summary>
[Alias("qubrid.IOrganizationGrain")]
[Version(0)]
public interface IOrganizationGrain : IGrainWithStringKey
{
    /// <summary>Creates the organization and its wallet (no sign-up bonus); <paramref name="ownerUserId"/> becomes its owner. A repeat is harmless.</summary>
    [Alias("Create")] Task<OrgOpResult> Create(string name, string? ownerUserId);

    /// <summary>Null when the organization does not exist.</summary>
    [Alias("Get"), ReadOnly] Task<OrganizationView?> Get();

    /// <summary>The user's role; null when the user is not a member (or the organization does not exist).</summary>
    [Alias("RoleOf"), ReadOnly] Task<OrgRole?> RoleOf(string userId);

    /// <summary>Adds a member or changes their role and budget. The last owner cannot be demoted.</summary>
    [Alias("SetMember")] Task<OrgOpResult> SetMember(string userId, OrgRole role, Micros? monthlyBudget);

    /// <summary>Removes a member. The last owner cannot be removed.</summary>
    [Alias("RemoveMember")] Task<OrgOpResult> RemoveMember(string userId);

    /// <summary>Creates a project or changes its budget.</summary>
    [Alias("SetProject")] Task<OrgOpResult> SetProject(string projectId, Micros? monthlyBudget);
}

/// <summary>Reads across organizations: the organizations of a user.</summary>
[Alias("qubrid.IOrganizationDirectoryGrain")]
[Version(0)]
public interface IOrganizationDirectoryGrain : IGrainWithIntegerKey
{
    [Alias("OrganizationsOf"), ReadOnly] Task<IReadOnlyList<OrgMembership>> OrganizationsOf(string userId);
}

/// <summary>
/// The calls an organization needs from its wallet. Implemented by the wallet grain itself (the same activation as
/// <see cref="IWalletGrain"/> for the same key); a separate interface so that the wallet's own contract does not change.
/// </summary>
[Alias("qubrid.IOrganizationWalletGrain")]
[Version(0)]
public interface IOrganizationWalletGrain : IGrainWithStringKey
{
    /// <summary>Creates the wallet without the sign-up bonus; a repeat changes nothing.</summary>
    [Alias("CreateWithoutBonus")] Task<CreateWalletResult> CreateWithoutBonus();

    /// <summary>Usage (session, inference and premium charges, hold captures) between two instants, by member and project.</summary>
    [Alias("GetTeamSpend"), ReadOnly] Task<IReadOnlyList<TeamSpendRow>?> GetTeamSpend(DateTimeOffset from, DateTimeOffset to);
}
