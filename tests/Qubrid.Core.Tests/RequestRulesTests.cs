namespace Qubrid.Core.Tests;

public class RequestRulesTests
{
    private static readonly DateTimeOffset Expiry = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [Trait("Rule", "R-INPUT-3")]
    [InlineData(128, false, true)]
    [InlineData(0, false, true)]
    [InlineData(129, false, false)]
    [InlineData(10, true, false)]
    public void A_holds_reference_is_at_most_128_printable_characters(int length, bool controlCharacter, bool accepted)
    {
        var reference = new string('r', length) + (controlCharacter ? "\n" : "");
        var error = RequestRules.ValidateHold(new HoldRequest("key", Micros.FromUsd(1m), Expiry, reference));
        if (accepted)
        {
            Assert.Null(error);
            return;
        }
        Assert.NotNull(error);
        Assert.Equal(ErrorCodes.InvalidRequest, error.ErrorCode);
        Assert.Equal("The reference must be at most 128 printable characters.", error.Detail);
    }
}
