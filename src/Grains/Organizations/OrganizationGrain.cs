using Microsoft.Extensions.Logging;

namespace Qubrid.Organizations;

/// <summary>
/// One organization (docs/rules.md#R-ORG-1..3). Not reentrant: its calls run one at a time, each written to PostgreSQL
/// (<see cref="OrganizationStore"/>) before it is answered, so that a membership it reports is the one stored. State is
/// the tables, loaded on activation.
/// </summary>
public sealed partial class OrganizationGrain(OrganizationStore store, BillingClock clock, ILogger<OrganizationGrain> logger) : Grain, IOrganizationGrain
{
    private OrganizationView? _org;

    private string OrgId => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken) => _org = await store.LoadAsync(OrgId, cancellationToken);

    public async Task<OrgOpResult> Create(string name, string? ownerUserId)
    {
        if (!OrgRoles.IsOrganizationId(OrgId))
            return OrgOpResult.Refused(ErrorCodes.InvalidRequest, $"An organization id is '{OrgRoles.IdPrefix}' followed by {Ids.Rule}.");
        name = name?.Trim() ?? "";
        if (name.Length is 0 or > OrgRoles.MaxNameLength)
            return OrgOpResult.Refused(ErrorCodes.InvalidRequest, $"The name must be 1–{OrgRoles.MaxNameLength} characters.");
        if (ownerUserId is not null && !Ids.IsValid(ownerUserId)) return OrgOpResult.Refused(ErrorCodes.InvalidRequest, $"The user id must be {Ids.Rule}.");
        var wallet = GrainFactory.GetGrain<IOrganizationWalletGrain>(OrgId);
        if (_org is { } existing)
        {
            // R-ORG-1: a repeat by the admin or a member is harmless (and finishes a creation a crash cut short); anyone else is refused.
            if (ownerUserId is not null && existing.RoleOf(ownerUserId) is null)
                return OrgOpResult.Refused(ErrorCodes.OrganizationExists, $"Organization '{OrgId}' exists already.");
            await wallet.CreateWithoutBonus();
            return new OrgOpResult(OrgOpStatus.Applied, existing);
        }
        // A wallet with this id that no organization owns is a user's: never taken over.
        if (await GrainFactory.GetGrain<IWalletGrain>(OrgId).GetBalance() is not null)
            return OrgOpResult.Refused(ErrorCodes.OrganizationIdTaken, $"The id '{OrgId}' belongs to a wallet that is not an organization's.");
        await store.CreateAsync(OrgId, name, ownerUserId, clock.UtcNow);
        _org = await store.LoadAsync(OrgId);
        await wallet.CreateWithoutBonus();
        LogCreated(logger, OrgId, ownerUserId);
        return new OrgOpResult(OrgOpStatus.Created, _org);
    }

    public Task<OrganizationView?> Get() => Task.FromResult(_org);

    public Task<OrgRole?> RoleOf(string userId) => Task.FromResult(_org?.RoleOf(userId));

    // R-ORG-3: the last owner cannot be removed or demoted.
    public async Task<OrgOpResult> SetMember(string userId, OrgRole role, Micros? monthlyBudget)
    {
        if (_org is not { } org) return OrgOpResult.NotFound(OrgId);
        if (!Ids.IsValid(userId)) return OrgOpResult.Refused(ErrorCodes.InvalidRequest, $"The user id must be {Ids.Rule}.");
        if (!Enum.IsDefined(role)) return OrgOpResult.Refused(ErrorCodes.InvalidRequest, "The role must be owner, billing or member.");
        if (monthlyBudget is { } b && (b.IsNegative || b > Micros.MaxOperation)) return OrgOpResult.Refused(ErrorCodes.InvalidAmount, "The budget is out of range.");
        var current = org.Members.FirstOrDefault(m => m.UserId == userId);
        if (current?.Role == OrgRole.Owner && role != OrgRole.Owner && IsLastOwner(org, userId)) return LastOwner(userId);
        var member = new OrgMember(userId, role, monthlyBudget, current?.AddedAt ?? clock.UtcNow);
        await store.SetMemberAsync(OrgId, member);
        _org = org with { Members = [.. org.Members.Where(m => m.UserId != userId), member] };
        return new OrgOpResult(OrgOpStatus.Applied, _org);
    }

    public async Task<OrgOpResult> RemoveMember(string userId)
    {
        if (_org is not { } org) return OrgOpResult.NotFound(OrgId);
        var current = org.Members.FirstOrDefault(m => m.UserId == userId);
        if (current is null) return OrgOpResult.Refused(ErrorCodes.MemberNotFound, $"'{userId}' is not a member of '{OrgId}'.");
        if (current.Role == OrgRole.Owner && IsLastOwner(org, userId)) return LastOwner(userId);
        await store.RemoveMemberAsync(OrgId, userId);
        _org = org with { Members = [.. org.Members.Where(m => m.UserId != userId)] };
        LogRemoved(logger, OrgId, userId);
        return new OrgOpResult(OrgOpStatus.Applied, _org);
    }

    public async Task<OrgOpResult> SetProject(string projectId, Micros? monthlyBudget)
    {
        if (_org is not { } org) return OrgOpResult.NotFound(OrgId);
        if (!Ids.IsValid(projectId)) return OrgOpResult.Refused(ErrorCodes.InvalidRequest, $"The project id must be {Ids.Rule}.");
        if (monthlyBudget is { } b && (b.IsNegative || b > Micros.MaxOperation)) return OrgOpResult.Refused(ErrorCodes.InvalidAmount, "The budget is out of range.");
        var current = org.Projects.FirstOrDefault(p => p.ProjectId == projectId);
        var project = new OrgProject(projectId, monthlyBudget, current?.CreatedAt ?? clock.UtcNow);
        await store.SetProjectAsync(OrgId, project);
        _org = org with { Projects = [.. org.Projects.Where(p => p.ProjectId != projectId), project] };
        return new OrgOpResult(OrgOpStatus.Applied, _org);
    }

    private static bool IsLastOwner(OrganizationView org, string userId) =>
        !org.Members.Any(m => m.Role == OrgRole.Owner && m.UserId != userId);

    private OrgOpResult LastOwner(string userId) =>
        OrgOpResult.Refused(ErrorCodes.LastOwner, $"'{userId}' is the last owner of '{OrgId}': add another owner first.");

    [LoggerMessage(Level = LogLevel.Information, Message = "Organization {OrgId} created (owner {Owner})")]
    private static partial void LogCreated(ILogger logger, string orgId, string? owner);

    [LoggerMessage(Level = LogLevel.Information, Message = "Organization {OrgId}: member {UserId} removed")]
    private static partial void LogRemoved(ILogger logger, string orgId, string userId);
}

/// <summary>Reads across organizations (the organizations of a user), straight from the tables.</summary>
[Orleans.Concurrency.StatelessWorker]
public sealed class OrganizationDirectoryGrain(OrganizationStore store) : Grain, IOrganizationDirectoryGrain
{
    public Task<IReadOnlyList<OrgMembership>> OrganizationsOf(string userId) => store.OrganizationsOfAsync(userId);
}
