namespace Qubrid.Core;

/// <summary>Expiry on the book (docs/rules.md#R-EXP-2): expiration entries, credits_expiring notices and when the wallet must wake up.</summary>
public sealed partial class WalletBook
{
    /// <summary>When the wallet must wake up by itself: the earliest expiry of a lot or an active hold, or credits_expiring notice.</summary>
    public DateTimeOffset? NextExpiry() =>
        _lots.Values.Where(l => l.ExpiresAt is not null).Select(l => l.ExpiresAt)
            .Concat(_holds.Values.Where(h => h.State == HoldState.Active).Select(h => (DateTimeOffset?)h.ExpiresAt))
            .Append(NextExpiryNotice()).Min();

    // R-EXP-2: every batch starts by expiring due lots, earliest first (an idle wallet: Wallets/WalletExpiryReminder).
    /// <summary>Writes an expiration entry for every lot whose expiry has come.</summary>
    public int ExpireDue(DateTimeOffset now)
    {
        ExpireHolds(now);
        var due = _lots.Values.Where(l => l.IsExpiredAt(now)).OrderBy(l => l.ExpiresAt).ThenBy(l => l.Id).ToList();
        foreach (var lot in due)
        {
            var movement = new LotMovement(lot.Id, -lot.Remaining);
            Append(now, LedgerEntryKind.Expiration, -lot.Remaining, [movement],
                $"lot {lot.Id} expired at {lot.ExpiresAt:O}", null, null);
        }
        return due.Count;
    }

    /// <summary>The credits_expiring notices, most specific first: level 2 one day before, level 1 seven days before.</summary>
    private static readonly (int Level, TimeSpan Before)[] ExpiryNotices = [(2, TimeSpan.FromDays(1)), (1, TimeSpan.FromDays(7))];

    // R-EVENT-2: credits_expiring 7 days and 1 day before (balance_depleted/recovered: CheckDepletion).
    /// <summary>
    /// Raises credits_expiring for promotional lots with something left whose expiry is 7 days or 1 day away, once each
    /// (a lot granted after a notice's moment never gets that one; when both are due, only the 1-day one is raised).
    /// </summary>
    public void NoticeExpiringLots(DateTimeOffset now)
    {
        foreach (var lot in _lots.Values.Where(l => l.Kind == LotKind.Promotional && l.Remaining.IsPositive && l.ExpiresAt > now)
                     .OrderBy(l => l.ExpiresAt).ThenBy(l => l.Id).ToList())
        {
            foreach (var (level, before) in ExpiryNotices)
            {
                if (lot.ExpiryNotices >= level) break;
                var due = lot.ExpiresAt!.Value - before;
                if (now < due || lot.GrantedAt >= due) continue;
                _lots[lot.Id] = lot with { ExpiryNotices = level };
                Changes.TouchedLots.Add(lot.Id);
                Changes.Events.Add(new BillingEvent(0, now, EventKinds.CreditsExpiring, WalletId, null, null, Balance, null,
                    EventData.Of(("lotId", lot.Id), ("amount", lot.Remaining), ("expiresAt", lot.ExpiresAt), ("daysBefore", (int)before.TotalDays))));
                break;
            }
        }
    }

    /// <summary>The next moment a credits_expiring notice falls due, if any.</summary>
    private DateTimeOffset? NextExpiryNotice() =>
        _lots.Values.Where(l => l.Kind == LotKind.Promotional && l.Remaining.IsPositive && l.ExpiresAt is not null)
            .SelectMany(l => ExpiryNotices.Where(n => l.ExpiryNotices < n.Level && l.GrantedAt < l.ExpiresAt!.Value - n.Before)
                .Select(n => (DateTimeOffset?)(l.ExpiresAt!.Value - n.Before)))
            .Min();
}
