using System.Security.Claims;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record OrganizationBody(string? Name);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record MemberBody(string? Role, decimal? MonthlyBudget = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ProjectBody(decimal? MonthlyBudget = null);

/// <summary>An organization and the caller's role in it (null for the admin, who is not a member).</summary>
public sealed record OrganizationDto(string OrgId, string Name, string? Role, DateTimeOffset? CreatedAt);

public sealed record MemberDto(string UserId, string Role, decimal? MonthlyBudget, decimal SpentThisMonth);

public sealed record ProjectDto(string ProjectId, decimal? MonthlyBudget, decimal SpentThisMonth);

/// <summary>Organizations (team wallets): members with roles, projects, budgets (docs/rules.md#R-ORG-1..3).</summary>
public static class OrganizationsApi
{
    /// <summary>The largest monthly budget accepted (USD).</summary>
    public const decimal MaxBudgetUsd = 1_000_000m;

    public static IEndpointRouteBuilder MapOrganizationsApi(this IEndpointRouteBuilder app)
    {
        var orgs = app.MapGroup("/v1/orgs/{orgId}").WithTags("Organizations").RequireAuthorization();
        orgs.MapPut("", Create).RequireAuthorization(Policies.KeyOwner).WithName("CreateOrganization")
            .WithSummary("Create an organization and its wallet (no sign-up bonus); a user key's user becomes its owner. A repeat is harmless.")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.OrganizationExists, ErrorCodes.OrganizationIdTaken, ApiProblems.Forbidden);
        orgs.MapGet("", Get).WithName("GetOrganization").WithSummary("The organization and the caller's role in it (members and the admin).")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.OrganizationNotFound, ApiProblems.Forbidden);
        orgs.MapGet("/members", ListMembers).WithName("ListMembers")
            .WithSummary("Members with their role, monthly budget and spending this UTC month (owner, billing, admin).")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.OrganizationNotFound, ApiProblems.Forbidden);
        orgs.MapPut("/members/{userId}", SetMember).WithName("SetMember")
            .WithSummary("Add a member or change their role and monthly budget (owner, admin). The last owner cannot be demoted (409 last_owner).")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.InvalidAmount, ErrorCodes.OrganizationNotFound, ErrorCodes.LastOwner, ApiProblems.Forbidden);
        orgs.MapDelete("/members/{userId}", RemoveMember).WithName("RemoveMember")
            .WithSummary("Remove a member (owner, admin): their next usage on the organization's wallet is refused. The last owner cannot be removed.")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.OrganizationNotFound, ErrorCodes.MemberNotFound, ErrorCodes.LastOwner, ApiProblems.Forbidden);
        orgs.MapGet("/projects", ListProjects).WithName("ListProjects")
            .WithSummary("Projects with their monthly budget and spending this UTC month (owner, billing, admin).")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.OrganizationNotFound, ApiProblems.Forbidden);
        orgs.MapPut("/projects/{projectId}", SetProject).WithName("SetProject")
            .WithSummary("Create a project or change its monthly budget (owner, billing, admin).")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.InvalidAmount, ErrorCodes.OrganizationNotFound, ApiProblems.Forbidden);
        app.MapGet("/v1/me/orgs", Mine).WithTags("Organizations").RequireAuthorization(Policies.User).WithName("ListMyOrganizations")
            .WithSummary("The organizations the caller (a user key) belongs to, with their role in each.");
        return app;
    }

    private static async Task<Results<Created<OrganizationDto>, Ok<OrganizationDto>, ProblemHttpResult>> Create(
        string orgId, OrganizationBody body, ClaimsPrincipal caller, IClusterClient cluster, OrganizationRoles roles)
    {
        if (!OrgRoles.IsOrganizationId(orgId)) return MalformedOrgId();
        var name = body.Name?.Trim() ?? "";
        if (name.Length is 0 or > OrgRoles.MaxNameLength) return ApiProblems.Invalid($"A name of 1–{OrgRoles.MaxNameLength} characters is required.");
        var owner = caller.IsInRole(Roles.Admin) ? null : caller.UserId();
        var result = await cluster.GetGrain<IOrganizationGrain>(orgId).Create(name, owner);
        if (!result.Succeeded) return Problem(result);
        if (owner is not null) roles.Forget(orgId, owner);
        var dto = ToDto(result.Organization!, owner);
        return result.Status == OrgOpStatus.Created ? TypedResults.Created($"/v1/orgs/{orgId}", dto) : TypedResults.Ok(dto);
    }

    private static async Task<Results<Ok<OrganizationDto>, ProblemHttpResult>> Get(string orgId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        var (org, denied) = await AuthorizeAsync(orgId, caller, cluster, _ => true);
        return denied ?? (Results<Ok<OrganizationDto>, ProblemHttpResult>)TypedResults.Ok(ToDto(org!, caller.UserId()));
    }

    private static async Task<Ok<ItemsDto<OrganizationDto>>> Mine(ClaimsPrincipal caller, IClusterClient cluster)
    {
        var list = await cluster.GetGrain<IOrganizationDirectoryGrain>(0).OrganizationsOf(caller.UserId()!);
        return TypedResults.Ok(new ItemsDto<OrganizationDto>(list.Select(m => new OrganizationDto(m.OrgId, m.Name, m.Role.ToWire(), null)).ToList()));
    }

    private static async Task<Results<Ok<ItemsDto<MemberDto>>, ProblemHttpResult>> ListMembers(
        string orgId, ClaimsPrincipal caller, IClusterClient cluster, TimeProvider time)
    {
        var (org, denied) = await AuthorizeAsync(orgId, caller, cluster, r => r is OrgRole.Owner or OrgRole.Billing);
        if (denied is not null) return denied;
        var spend = await SpendThisMonthAsync(cluster, orgId, time);
        return TypedResults.Ok(new ItemsDto<MemberDto>(org!.Members.OrderBy(m => m.UserId, StringComparer.Ordinal)
            .Select(m => ToDto(m, spend)).ToList()));
    }

    private static async Task<Results<Ok<MemberDto>, ProblemHttpResult>> SetMember(
        string orgId, string userId, MemberBody body, ClaimsPrincipal caller, IClusterClient cluster, OrganizationRoles roles, TimeProvider time)
    {
        var (_, denied) = await AuthorizeAsync(orgId, caller, cluster, r => r == OrgRole.Owner);
        if (denied is not null) return denied;
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (!OrgRoles.TryParse(body.Role, out var role)) return ApiProblems.Invalid("role must be owner, billing or member.");
        if (Budget(body.MonthlyBudget, out var budget) is { } bad) return bad;
        var result = await cluster.GetGrain<IOrganizationGrain>(orgId).SetMember(userId, role, budget);
        roles.Forget(orgId, userId);
        if (!result.Succeeded) return Problem(result);
        var spend = await SpendThisMonthAsync(cluster, orgId, time);
        return TypedResults.Ok(ToDto(result.Organization!.Members.Single(m => m.UserId == userId), spend));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RemoveMember(
        string orgId, string userId, ClaimsPrincipal caller, IClusterClient cluster, OrganizationRoles roles)
    {
        var (_, denied) = await AuthorizeAsync(orgId, caller, cluster, r => r == OrgRole.Owner);
        if (denied is not null) return denied;
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        var result = await cluster.GetGrain<IOrganizationGrain>(orgId).RemoveMember(userId);
        roles.Forget(orgId, userId);
        return result.Succeeded ? TypedResults.NoContent() : Problem(result);
    }

    private static async Task<Results<Ok<ItemsDto<ProjectDto>>, ProblemHttpResult>> ListProjects(
        string orgId, ClaimsPrincipal caller, IClusterClient cluster, TimeProvider time)
    {
        var (org, denied) = await AuthorizeAsync(orgId, caller, cluster, r => r is OrgRole.Owner or OrgRole.Billing);
        if (denied is not null) return denied;
        var spend = await SpendThisMonthAsync(cluster, orgId, time);
        return TypedResults.Ok(new ItemsDto<ProjectDto>(org!.Projects.OrderBy(p => p.ProjectId, StringComparer.Ordinal)
            .Select(p => ToDto(p, spend)).ToList()));
    }

    private static async Task<Results<Ok<ProjectDto>, ProblemHttpResult>> SetProject(
        string orgId, string projectId, ProjectBody body, ClaimsPrincipal caller, IClusterClient cluster, TimeProvider time)
    {
        var (_, denied) = await AuthorizeAsync(orgId, caller, cluster, r => r is OrgRole.Owner or OrgRole.Billing);
        if (denied is not null) return denied;
        if (!ApiProblems.IsValidId(projectId)) return ApiProblems.MalformedId("project id");
        if (Budget(body.MonthlyBudget, out var budget) is { } bad) return bad;
        var result = await cluster.GetGrain<IOrganizationGrain>(orgId).SetProject(projectId, budget);
        if (!result.Succeeded) return Problem(result);
        var spend = await SpendThisMonthAsync(cluster, orgId, time);
        return TypedResults.Ok(ToDto(result.Organization!.Projects.Single(p => p.ProjectId == projectId), spend));
    }

    // R-ORG-6: organization calls by role; a user who is not a member learns nothing (404), the orchestrator is 403.
    /// <summary>
    /// The organization, if the caller may make the call: the admin always, a user when their role passes <paramref name="allowed"/>
    /// (asked of the organization itself, not cached). A non-member gets 404 as if it did not exist; a member without the role 403.
    /// </summary>
    private static async Task<(OrganizationView? Org, ProblemHttpResult? Denied)> AuthorizeAsync(
        string orgId, ClaimsPrincipal caller, IClusterClient cluster, Func<OrgRole, bool> allowed)
    {
        if (!OrgRoles.IsOrganizationId(orgId)) return (null, MalformedOrgId());
        bool admin = caller.IsInRole(Roles.Admin);
        if (!admin && !caller.IsInRole(Roles.User)) return (null, ApiProblems.Problem(ApiProblems.Forbidden, "This API key's role may not manage organizations."));
        var org = await cluster.GetGrain<IOrganizationGrain>(orgId).Get();
        var role = org?.RoleOf(caller.UserId());
        if (org is null || (!admin && role is null)) return (null, ApiProblems.Problem(ErrorCodes.OrganizationNotFound, $"Organization '{orgId}' does not exist."));
        if (!admin && !allowed(role!.Value))
            return (null, ApiProblems.Problem(ApiProblems.Forbidden, $"The {role.Value.ToWire()} role of '{orgId}' may not do this."));
        return (org, null);
    }

    /// <summary>The organization wallet's usage this UTC month, by member and project.</summary>
    private static async Task<IReadOnlyList<TeamSpendRow>> SpendThisMonthAsync(IClusterClient cluster, string orgId, TimeProvider time)
    {
        var now = time.GetUtcNow();
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return await cluster.GetGrain<IOrganizationWalletGrain>(orgId).GetTeamSpend(monthStart, now.AddSeconds(1)) ?? [];
    }

    private static MemberDto ToDto(OrgMember m, IReadOnlyList<TeamSpendRow> spend) => new(m.UserId, m.Role.ToWire(), m.MonthlyBudget?.ToUsd(),
        spend.Where(s => s.MemberId == m.UserId).Aggregate(Micros.Zero, (sum, s) => sum + s.Amount).ToUsd());

    private static ProjectDto ToDto(OrgProject p, IReadOnlyList<TeamSpendRow> spend) => new(p.ProjectId, p.MonthlyBudget?.ToUsd(),
        spend.Where(s => s.ProjectId == p.ProjectId).Aggregate(Micros.Zero, (sum, s) => sum + s.Amount).ToUsd());

    private static OrganizationDto ToDto(OrganizationView org, string? userId) => new(org.OrgId, org.Name, org.RoleOf(userId)?.ToWire(), org.CreatedAt);

    private static ProblemHttpResult? Budget(decimal? usd, out Micros? budget)
    {
        budget = null;
        if (usd is not { } value) return null;
        if (value < 0 || value > MaxBudgetUsd || !Micros.TryFromUsd(value, out var micros))
            return ApiProblems.Problem(ErrorCodes.InvalidAmount, $"monthlyBudget must be null or 0–{MaxBudgetUsd} USD with at most 6 decimals.");
        budget = micros;
        return null;
    }

    private static ProblemHttpResult Problem(OrgOpResult result) =>
        ApiProblems.Problem(result.ErrorCode ?? ErrorCodes.InvalidRequest, result.Detail ?? "The organization refused the call.");

    private static ProblemHttpResult MalformedOrgId() => ApiProblems.Invalid($"An organization id is '{OrgRoles.IdPrefix}' followed by {Ids.Rule}.");
}
