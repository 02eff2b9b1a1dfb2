using System.Text.Json.Serialization;
using Qubrid.Api.Auth;

namespace Qubrid.Api.Extensions;

// The JSON shapes of the API (docs/rules.md). Amounts are USD numbers exact to 6 decimals; times are ISO-8601 UTC.

public sealed record ExpiryDto(DateTimeOffset At, decimal Amount);

public sealed record RunningSessionDto(string SessionId, string InstanceType, decimal UsdPerHour, DateTimeOffset StartedAt, decimal Charged, string Workload);

public sealed record WalletDto(
    string UserId, decimal Total, decimal Promotional, decimal Purchased, ExpiryDto? NextExpiry,
    decimal BurnRatePerHour, long? RunwaySeconds, IReadOnlyList<RunningSessionDto> RunningSessions, DateTimeOffset AsOf, decimal Held, decimal Available,
    decimal Scoped)
{
    public static WalletDto From(WalletBalance b) => new(b.UserId, b.Total.ToUsd(), b.Promotional.ToUsd(), b.Purchased.ToUsd(),
        b.NextExpiry is { } e ? new ExpiryDto(e.At, e.Amount.ToUsd()) : null, b.BurnRatePerHour, b.RunwaySeconds,
        b.RunningSessions.Select(s => new RunningSessionDto(s.SessionId, s.InstanceType, s.UsdPerHour, s.StartedAt, s.Charged.ToUsd(), s.Workload)).ToList(),
        b.AsOf, b.Held.ToUsd(), b.Available.ToUsd(), b.Scoped.ToUsd());
}

/// <summary>A credit lot; <c>scope</c> is null for a lot that pays for anything.</summary>
public sealed record LotDto(long Id, string Kind, decimal Amount, decimal Remaining, DateTimeOffset GrantedAt, DateTimeOffset? ExpiresAt, string Source,
    ScopeDto? Scope)
{
    public static LotDto From(CreditLot l) =>
        new(l.Id, l.Kind.ToWire(), l.Amount.ToUsd(), l.Remaining.ToUsd(), l.GrantedAt, l.ExpiresAt, l.Source, ScopeDto.From(l.Scope));
}

public sealed record ItemsDto<T>(IReadOnlyList<T> Items);

public sealed record LotMovementDto(long LotId, decimal Amount);

public sealed record LedgerEntryDto(
    long Seq, DateTimeOffset At, string Kind, decimal Amount, decimal BalanceAfter, IReadOnlyList<LotMovementDto> Lots,
    string Reference, string? IdempotencyKey, string? SessionId, string? InstanceType, string? Model, string? Workload, string? MemberId, string? ProjectId)
{
    public static LedgerEntryDto From(LedgerEntryView e) => new(e.Seq, e.At, e.Kind.ToWire(), e.Amount.ToUsd(), e.BalanceAfter.ToUsd(),
        e.Lots.Select(m => new LotMovementDto(m.LotId, m.Amount.ToUsd())).ToList(), e.Reference, e.IdempotencyKey,
        e.Usage?.SessionId, e.Usage?.InstanceType, e.Usage?.Model, e.Usage?.Workload, e.Usage?.MemberId, e.Usage?.ProjectId);
}

public sealed record LedgerPageDto(IReadOnlyList<LedgerEntryDto> Items, string? NextCursor);

public sealed record SessionDto(
    string SessionId, string UserId, string InstanceType, string Workload, decimal UsdPerHour, string State,
    DateTimeOffset StartedAt, DateTimeOffset? StoppedAt, decimal Charged, string? EndReason)
{
    public static SessionDto From(SessionView s) => new(s.SessionId, s.UserId, s.InstanceType, s.Workload, s.UsdPerHour,
        s.State.ToWire(),
        s.StartedAt, s.StoppedAt, s.Charged.ToUsd(), s.EndReason);
}

/// <summary>A key just issued or rotated: the secret <c>key</c> is shown this once.</summary>
public sealed record ApiKeyDto(string Id, string Key, string Prefix, string Role, string? UserId, DateTimeOffset? ExpiresAt)
{
    public static ApiKeyDto From(IssuedKey k) => new(k.Id, k.Key, k.Prefix, k.Role, k.UserId, k.ExpiresAt);
}

/// <summary>SPEC shape "Key": never the secret.</summary>
public sealed record ApiKeyInfoDto(
    string Id, string Prefix, string Role, string? UserId, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt)
{
    public static ApiKeyInfoDto From(ApiKeyInfo k) => new(k.Id, k.Prefix, k.Role, k.UserId, k.CreatedAt, k.LastUsedAt, k.ExpiresAt, k.RevokedAt);
}

/// <summary>GET /v1/me: the calling key's role, and its user for a user key.</summary>
public sealed record MeDto(string Role, string? UserId);

/// <summary>GET /v1/models: inference prices (USD per million tokens) and premium prices (USD per access).</summary>
public sealed record ModelsDto(IReadOnlyList<ModelPrice> Items, IReadOnlyList<PremiumPrice> Premium);

/// <summary>GET /v1/topup-options: preset amounts, the bounds of a custom amount, and the sandbox's test cards.</summary>
public sealed record TopupOptionsDto(IReadOnlyList<decimal> Presets, decimal Min, decimal Max, string Currency, bool Sandbox, IReadOnlyList<Qubrid.Payments.TestCard> TestCards);

public sealed record ChargeDto(decimal Amount, long? Seq);

public sealed record CreditDto(decimal Amount, long? Seq, long? LotId, decimal BalanceAfter);

// Requests: unknown members are refused, so a typo in a money call is an error, not a silent default.

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record TopupRequest(decimal? Amount, string? PaymentToken);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record GrantRequest(decimal? Amount, DateTimeOffset? ExpiresAt, string? Reason, ScopeDto? Scope = null);

/// <summary>
/// What a scoped grant pays for: usage that matches every list given (known instance types; known models or premium names;
/// workloads instance, training, notebook). At least one list; a list is never empty; models exclude the other two.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ScopeDto(IReadOnlyList<string>? InstanceTypes = null, IReadOnlyList<string>? Models = null, IReadOnlyList<string>? Workloads = null)
{
    public CreditScope ToScope() => new(InstanceTypes, Models, Workloads);

    public static ScopeDto? From(CreditScope? s) => s is null ? null : new ScopeDto(s.InstanceTypes, s.Models, s.Workloads);
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AdjustmentRequest(decimal? Amount, string? Reason);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RefundRequest(decimal? Amount, string? Reason);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record StartSessionBody(string? SessionId, string? UserId, string? InstanceType, string? Workload = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record InferenceChargeBody(string? UserId, string? Model, long? InputTokens, long? OutputTokens, string? HoldId = null,
    string? WalletId = null, string? ProjectId = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PremiumChargeBody(string? UserId, string? Name, string? Reference = null, string? WalletId = null, string? ProjectId = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RateBody(decimal? UsdPerHour);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ApiKeyRequest(string? Role, string? UserId = null, DateTimeOffset? ExpiresAt = null);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RotateKeyBody(int? GraceSeconds = null);

public sealed record UsageItemDto(string Key, decimal Amount, long Count, Dictionary<string, decimal>? ByInstanceType, Dictionary<string, decimal>? ByModel);

public sealed record UsageDto(string GroupBy, DateTimeOffset From, DateTimeOffset To, decimal Total, IReadOnlyList<UsageItemDto> Items);
