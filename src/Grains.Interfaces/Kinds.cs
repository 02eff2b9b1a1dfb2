namespace Qubrid;

/// <summary>What a credit lot is: promotional credits expire, purchased ones never do.</summary>
public enum LotKind : byte
{
    Promotional = 1,
    Purchased = 2,
}

/// <summary>What changed a balance. The wire names are the snake_case forms (see <see cref="LedgerKinds"/>).</summary>
public enum LedgerEntryKind : byte
{
    Grant = 1,
    Topup = 2,
    SessionCharge = 3,
    InferenceCharge = 4,
    PremiumAccess = 5,
    Expiration = 6,
    Adjustment = 7,
    Refund = 8,
    HoldCapture = 9,
    GrantVoid = 10,
    CardRefund = 11,
}

/// <summary>Stable names of ledger kinds, as stored in the database and shown by the API.</summary>
public static class LedgerKinds
{
    public static string ToWire(this LedgerEntryKind kind) => kind switch
    {
        LedgerEntryKind.Grant => "grant",
        LedgerEntryKind.Topup => "topup",
        LedgerEntryKind.SessionCharge => "session_charge",
        LedgerEntryKind.InferenceCharge => "inference_charge",
        LedgerEntryKind.PremiumAccess => "premium_access",
        LedgerEntryKind.Expiration => "expiration",
        LedgerEntryKind.Adjustment => "adjustment",
        LedgerEntryKind.Refund => "refund",
        LedgerEntryKind.HoldCapture => "hold_capture",
        LedgerEntryKind.GrantVoid => "grant_void",
        LedgerEntryKind.CardRefund => "card_refund",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>
    /// Kinds a credit may carry (each makes a lot; docs/rules.md#R-LOT-1); an adjustment may also be a debit. Statements show
    /// them one line per kind, not split by instance type or model; SQL takes the list as a parameter.
    /// </summary>
    public static readonly IReadOnlyList<LedgerEntryKind> CreditKinds =
        [LedgerEntryKind.Grant, LedgerEntryKind.Topup, LedgerEntryKind.Adjustment, LedgerEntryKind.Refund];

    /// <summary>Kinds the usage history reports (docs/rules.md#R-USAGE-1); hold captures are not in it. SQL takes the list as a parameter.</summary>
    public static readonly IReadOnlyList<LedgerEntryKind> UsageKinds =
        [LedgerEntryKind.SessionCharge, LedgerEntryKind.InferenceCharge, LedgerEntryKind.PremiumAccess];

    /// <summary>Kinds as stored in <c>qubrid_ledger.kind</c>, for a <c>kind = ANY($n)</c> parameter.</summary>
    public static string[] ToWire(this IEnumerable<LedgerEntryKind> kinds) => [.. kinds.Select(k => k.ToWire())];

    public static bool TryParse(string wire, out LedgerEntryKind kind)
    {
        foreach (var k in Enum.GetValues<LedgerEntryKind>())
        {
            if (k.ToWire() == wire) { kind = k; return true; }
        }
        kind = default;
        return false;
    }

    public static LedgerEntryKind Parse(string wire) =>
        TryParse(wire, out var k) ? k : throw new FormatException($"Unknown ledger kind '{wire}'.");

    public static string ToWire(this LotKind kind) => kind == LotKind.Promotional ? "promotional" : "purchased";

    public static LotKind ParseLotKind(string wire) => wire switch
    {
        "promotional" => LotKind.Promotional,
        "purchased" => LotKind.Purchased,
        _ => throw new FormatException($"Unknown lot kind '{wire}'."),
    };
}

/// <summary>Stable error codes shared by grains and the API's problem details.</summary>
public static class ErrorCodes
{
    public const string InsufficientCredits = "insufficient_credits";
    public const string InvalidAmount = "invalid_amount";
    public const string InvalidRequest = "invalid_request";
    public const string IdempotencyConflict = "idempotency_conflict";
    public const string IdempotencyKeyRequired = "idempotency_key_required";
    public const string WalletNotFound = "wallet_not_found";
    public const string UnknownInstanceType = "unknown_instance_type";
    public const string UnknownModel = "unknown_model";
    public const string SessionConflict = "session_conflict";
    public const string SessionNotFound = "session_not_found";
    public const string SpendLimitExceeded = "spend_limit_exceeded";
    public const string HoldNotFound = "hold_not_found";
    public const string HoldNotActive = "hold_not_active";
    public const string CaptureExceedsHold = "capture_exceeds_hold";
    public const string InvalidExpiry = "invalid_expiry";
    public const string InvalidAutoTopup = "invalid_auto_topup";
    public const string InvalidLimit = "invalid_limit";
    public const string LotNotFound = "lot_not_found";
    public const string LotNotVoidable = "lot_not_voidable";
    public const string PaymentNotFound = "payment_not_found";
    public const string RefundExceedsRemaining = "refund_exceeds_remaining";
    public const string RefundFailed = "refund_failed";
    public const string OrganizationNotFound = "organization_not_found";
    public const string OrganizationExists = "organization_exists";
    public const string OrganizationIdTaken = "organization_id_taken";
    public const string LastOwner = "last_owner";
    public const string NotAMember = "not_a_member";
    public const string MemberNotFound = "member_not_found";
    public const string InvalidScope = "invalid_scope";
}
