using System.Globalization;
using Orleans.CodeGeneration;

namespace Qubrid;

/// <summary>Where a hold stands. Only an active hold counts in <c>held</c>.</summary>
public enum HoldState : byte
{
    Active = 1,
    Captured = 2,
    Voided = 3,
    Expired = 4,
}

/// <summary>Hold ids carry their wallet (<c>hold_&lt;number&gt;_&lt;userId&gt;</c>), so a capture finds its wallet without a lookup.</summary>
public static class HoldIds
{
    public static string Format(string walletId, long number) => $"hold_{number.ToString(CultureInfo.InvariantCulture)}_{walletId}";

    public static bool TryParse(string? holdId, out string walletId, out long number)
    {
        walletId = "";
        number = 0;
        if (holdId is null || !holdId.StartsWith("hold_", StringComparison.Ordinal)) return false;
        int sep = holdId.IndexOf('_', 5);
        if (sep <= 5 || sep - 5 > 18) return false;
        var digits = holdId.AsSpan(5, sep - 5);
        foreach (var c in digits) if (c is < '0' or > '9') return false;
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out number) || number < 1) return false;
        walletId = holdId[(sep + 1)..];
        return Ids.IsValid(walletId);
    }

    public static string ToWire(this HoldState state) => state switch
    {
        HoldState.Active => "active",
        HoldState.Captured => "captured",
        HoldState.Voided => "voided",
        HoldState.Expired => "expired",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };

    public static HoldState ParseState(string wire) => wire switch
    {
        "active" => HoldState.Active,
        "captured" => HoldState.Captured,
        "voided" => HoldState.Voided,
        "expired" => HoldState.Expired,
        _ => throw new FormatException($"Unknown hold state '{wire}'."),
    };
}

/// <summary>Reserves an amount until <c>ExpiresAt</c>: <c>available = total − held</c>.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.HoldRequest")]
public sealed record HoldRequest(
    [property: Id(0)] string IdempotencyKey,
    [property: Id(1)] Micros Amount,
    [property: Id(2)] DateTimeOffset ExpiresAt,
    [property: Id(3)] string Reference);

/// <summary>Captures at most the held amount (the rest is released; 0 voids), or voids the hold.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.HoldSettleRequest")]
public sealed record HoldSettleRequest(
    [property: Id(0)] string IdempotencyKey,
    [property: Id(1)] long HoldNumber,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] bool Void);

[GenerateSerializer, Immutable, Alias("qubrid.HoldView")]
public sealed record HoldView(
    [property: Id(0)] string HoldId,
    [property: Id(1)] string UserId,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] Micros Captured,
    [property: Id(4)] HoldState State,
    [property: Id(5)] DateTimeOffset CreatedAt,
    [property: Id(6)] DateTimeOffset ExpiresAt,
    [property: Id(7)] string Reference);

/// <summary>The answer to a hold call: the operation's result and the hold as it now stands.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.HoldOpResult")]
public sealed record HoldOpResult([property: Id(0)] WalletOpResult Result, [property: Id(1)] HoldView? Hold);

/// <summary>Calendar periods (UTC) a spending limit applies to.</summary>
public enum SpendPeriod : byte
{
    Hour = 0,
    Day = 1,
    Month = 2,
}

/// <summary>Spending limits per UTC calendar hour, day and month; null means none.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.SpendLimits")]
public sealed record SpendLimits(
    [property: Id(0)] Micros? PerHour = null,
    [property: Id(1)] Micros? PerDay = null,
    [property: Id(2)] Micros? PerMonth = null)
{
    public static SpendLimits None { get; } = new();

    public Micros? For(SpendPeriod period) => period switch
    {
        SpendPeriod.Hour => PerHour,
        SpendPeriod.Day => PerDay,
        _ => PerMonth,
    };
}

/// <summary>Who set a limit: the owner's and the admin's are stored apart and the lower applies.</summary>
public enum LimitScope : byte
{
    Owner = 1,
    Admin = 2,
}

/// <summary>A wallet's limits: the effective ones, each scope's, and what the current periods spent.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.LimitsView")]
public sealed record LimitsView(
    [property: Id(0)] SpendLimits Effective,
    [property: Id(1)] SpendLimits Owner,
    [property: Id(2)] SpendLimits Admin,
    [property: Id(3)] Micros SpentHour,
    [property: Id(4)] Micros SpentDay,
    [property: Id(5)] Micros SpentMonth);

/// <summary>Automatic recharge: below <c>Threshold</c>, buy back up to <c>Target</c> with the saved card, at most <c>MonthlyCap</c> a month.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.AutoTopupSettings")]
public sealed record AutoTopupSettings(
    [property: Id(0)] bool Enabled,
    [property: Id(1)] Micros Threshold,
    [property: Id(2)] Micros Target,
    [property: Id(3)] string PaymentToken,
    [property: Id(4)] Micros MonthlyCap);

/// <summary>The auto top-up as the owner sees it; the saved token is never returned.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.AutoTopupView")]
public sealed record AutoTopupView(
    [property: Id(0)] bool Enabled,
    [property: Id(1)] Micros Threshold,
    [property: Id(2)] Micros Target,
    [property: Id(3)] Micros MonthlyCap,
    [property: Id(4)] Micros SpentThisMonth,
    [property: Id(5)] int ConsecutiveFailures,
    [property: Id(6)] string? DisabledReason,
    [property: Id(7)] bool InFlight,
    [property: Id(8)] bool Configured);

/// <summary>One automatic recharge the wallet decided on: its attempt number (the payment id derives from it) and amount.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.AutoTopupAttempt")]
public sealed record AutoTopupAttempt([property: Id(0)] long Attempt, [property: Id(1)] Micros Amount, [property: Id(2)] string PaymentToken);

/// <summary>Runs a wallet's automatic recharges: charges the saved card once per attempt and credits the wallet. Key: the user id.</summary>
[Alias("qubrid.IAutoTopupGrain")]
[Version(0)]
public interface IAutoTopupGrain : IGrainWithStringKey
{
    /// <summary>Starts (or resumes) the attempt; returns at once. Safe to repeat: one attempt is charged at most once.</summary>
    [Alias("Run"), Orleans.Concurrency.OneWay] Task Run(AutoTopupAttempt attempt);
}
