using FsCheck.Xunit;
using Qubrid.Promotions;

namespace Qubrid.Core.Tests;

/// <summary>Promotions' pure rules: what a valid promotion is, generated codes, and the redemption decision.</summary>
public class PromotionRulesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static PromotionSpec Spec(string? code = "WELCOME1", int? codeCount = null, decimal amount = 10m, DateTimeOffset? lotExpiresAt = null,
        int? lotValidDays = 30, DateTimeOffset? startsAt = null, DateTimeOffset? endsAt = null, int? maxRedemptions = null) =>
        new(code, codeCount, Micros.FromUsd(amount), lotExpiresAt, lotValidDays, startsAt, endsAt, maxRedemptions, false);

    private static PromotionView View(int? maxRedemptions = null, int redemptions = 0, DateTimeOffset? startsAt = null, DateTimeOffset? endsAt = null,
        bool newWalletsOnly = false, DateTimeOffset? disabledAt = null, int? codeCount = null, DateTimeOffset? lotExpiresAt = null) =>
        new("p1", codeCount is null ? "WELCOME1" : null, codeCount, Micros.FromUsd(5m), lotExpiresAt, lotExpiresAt is null ? 7 : null,
            startsAt, endsAt, maxRedemptions, redemptions, newWalletsOnly, Now.AddDays(-1), disabledAt);

    [Fact]
    [Trait("Rule", "R-PROMO-1")]
    public void A_valid_promotion_passes_and_each_broken_rule_is_named_by_its_code()
    {
        Assert.Null(PromotionRules.Validate(Spec(), Now));
        Assert.Null(PromotionRules.Validate(Spec(code: null, codeCount: 10_000, lotValidDays: null, lotExpiresAt: Now.AddDays(1)), Now));
        Assert.Equal(ErrorCodes.InvalidAmount, PromotionRules.Validate(Spec(amount: 0m), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidAmount, PromotionRules.Validate(Spec(amount: 1_000_000.000001m), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidRequest, PromotionRules.Validate(Spec(codeCount: 3), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidRequest, PromotionRules.Validate(Spec(code: null), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidRequest, PromotionRules.Validate(Spec(code: "ab"), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidRequest, PromotionRules.Validate(Spec(code: "has space"), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidRequest, PromotionRules.Validate(Spec(code: null, codeCount: 10_001), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidExpiry, PromotionRules.Validate(Spec(lotValidDays: null), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidExpiry, PromotionRules.Validate(Spec(lotExpiresAt: Now.AddDays(1)), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidExpiry, PromotionRules.Validate(Spec(lotValidDays: null, lotExpiresAt: Now), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidRequest, PromotionRules.Validate(Spec(startsAt: Now.AddDays(2), endsAt: Now.AddDays(1)), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidRequest, PromotionRules.Validate(Spec(endsAt: Now), Now)?.Code);
        Assert.Equal(ErrorCodes.InvalidRequest, PromotionRules.Validate(Spec(maxRedemptions: 0), Now)?.Code);
    }

    [Fact]
    [Trait("Rule", "R-PROMO-2")]
    public void Generated_codes_are_12_unambiguous_characters_and_do_not_repeat()
    {
        var codes = Enumerable.Range(0, 20_000).Select(_ => PromotionRules.GenerateCode()).ToList();
        Assert.Equal(codes.Count, codes.Distinct().Count());
        Assert.All(codes, c => Assert.Matches("^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$", c));
        Assert.All(codes, c => Assert.True(PromotionRules.IsWellFormed(c)));
        // Every character of the alphabet turns up: the draw is not stuck on a part of it.
        Assert.Equal(PromotionRules.CodeAlphabet.Length, codes.SelectMany(c => c).Distinct().Count());
    }

    [Fact]
    [Trait("Rule", "R-PROMO-3")]
    public void The_decision_refuses_disabled_out_of_window_exhausted_used_and_ineligible_and_grants_otherwise()
    {
        var wallet = Now.AddHours(-1);
        Assert.Equal(Now.AddDays(7), PromotionRules.Decide(View(), Now, wallet, false).LotExpiresAt);
        Assert.Null(PromotionRules.Decide(View(), Now, wallet, false).Refusal);
        Assert.Equal(RedemptionStatus.Ended, PromotionRules.Decide(View(disabledAt: Now), Now, wallet, false).Refusal);
        Assert.Equal(RedemptionStatus.Ended, PromotionRules.Decide(View(startsAt: Now.AddTicks(10)), Now, wallet, false).Refusal);
        Assert.Null(PromotionRules.Decide(View(startsAt: Now), Now, wallet, false).Refusal);
        Assert.Equal(RedemptionStatus.Ended, PromotionRules.Decide(View(endsAt: Now), Now, wallet, false).Refusal);
        Assert.Equal(RedemptionStatus.Ended, PromotionRules.Decide(View(lotExpiresAt: Now), Now, wallet, false).Refusal);
        Assert.Equal(RedemptionStatus.Exhausted, PromotionRules.Decide(View(maxRedemptions: 3, redemptions: 3), Now, wallet, false).Refusal);
        Assert.Null(PromotionRules.Decide(View(maxRedemptions: 3, redemptions: 2), Now, wallet, false).Refusal);
        Assert.Equal(RedemptionStatus.Exhausted, PromotionRules.Decide(View(codeCount: 2, redemptions: 2), Now, wallet, false).Refusal);
        Assert.Equal(RedemptionStatus.Exhausted, PromotionRules.Decide(View(codeCount: 2), Now, wallet, codeUsedByOther: true).Refusal);
        Assert.Equal(RedemptionStatus.NotEligible, PromotionRules.Decide(View(newWalletsOnly: true), Now, Now.AddDays(-1), false).Refusal);
        Assert.Null(PromotionRules.Decide(View(newWalletsOnly: true), Now, Now.AddDays(-1).AddTicks(10), false).Refusal);
    }

    /// <summary>
    /// Random interleavings of redemptions by a few wallets, disables and clock moves, decided step by step as the promotion
    /// grain does (the decision, then the count), against a plain model of the rules: the same answer every step, never more
    /// grants than the cap, never one outside the window or after a disable. (One redemption per wallet is the reservation's
    /// primary key, not this decision: a wallet that redeemed already is not asked again here.)
    /// </summary>
    [Property(MaxTest = 300)]
    [Trait("Rule", "R-PROMO-3")]
    public void Redemptions_decide_as_the_sequential_model_for_random_interleavings(int seed)
    {
        var random = new Random(seed);
        var start = Now.AddMinutes(random.Next(0, 60));
        var end = start.AddMinutes(random.Next(1, 240));
        int? cap = random.Next(3) == 0 ? null : random.Next(1, 8);
        var promotion = View(maxRedemptions: cap, startsAt: start, endsAt: end, newWalletsOnly: random.Next(2) == 0);
        var walletCreated = Enumerable.Range(0, 6).Select(_ => promotion.CreatedAt.AddMinutes(random.Next(-30, 30))).ToArray();
        var redeemed = new HashSet<int>();
        var now = Now;
        bool disabled = false;
        for (int step = 0; step < 60; step++)
        {
            switch (random.Next(8))
            {
                case 0: now = now.AddMinutes(random.Next(0, 40)); continue;
                case 1 when random.Next(4) == 0:
                    disabled = true;
                    promotion = promotion with { DisabledAt = now };
                    continue;
            }
            int w = random.Next(walletCreated.Length);
            if (redeemed.Contains(w)) continue;
            RedemptionStatus? actual = PromotionRules.Decide(promotion, now, walletCreated[w], codeUsedByOther: false).Refusal;
            RedemptionStatus? expected =
                disabled || now < start || now >= end ? RedemptionStatus.Ended
                : cap is { } c && redeemed.Count >= c ? RedemptionStatus.Exhausted
                : promotion.NewWalletsOnly && walletCreated[w] <= promotion.CreatedAt ? RedemptionStatus.NotEligible
                : null;
            Assert.Equal(expected, actual);
            if (actual is null)
            {
                redeemed.Add(w);
                promotion = promotion with { Redemptions = promotion.Redemptions + 1 };
            }
            Assert.True(cap is null || promotion.Redemptions <= cap);
            Assert.Equal(redeemed.Count, promotion.Redemptions);
        }
    }
}
