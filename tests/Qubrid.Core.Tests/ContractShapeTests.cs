using Qubrid.Contracts;

namespace Qubrid.Core.Tests;

/// <summary>
/// The grain contracts of this build against the previous release's (docs/contracts/previous-release.txt, see
/// docs/design.md#versioned-contracts): during a rolling upgrade both run in one cluster, so messages, state and grain
/// interfaces may only grow. And the check itself: each kind of break it must catch, on a mutated snapshot.
/// </summary>
public sealed class ContractShapeTests
{
    private const string SnapshotPath = "docs/contracts/previous-release.txt";

    private static ContractShapes Previous() => ContractShapes.Parse(RepositoryFiles.Read(SnapshotPath));

    [Fact]
    public void This_build_breaks_no_contract_of_the_previous_release()
    {
        var breaks = ContractShapes.OfThisBuild().BreaksAgainst(Previous());
        Assert.True(breaks.Count == 0, $"Contract breaks against {SnapshotPath}:\n  " + string.Join("\n  ", breaks));
    }

    [Fact]
    public void Every_grain_interface_declares_its_version()
    {
        var breaks = ContractShapes.OfThisBuild().OwnRuleBreaks();
        Assert.True(breaks.Count == 0, string.Join("\n", breaks));
    }

    [Fact]
    public void The_dump_lists_messages_state_enums_and_interfaces_with_their_ids_and_aliases()
    {
        var dump = ContractShapes.OfThisBuild().ToString();
        Assert.Contains("type qubrid.DebitRequest clr=Qubrid.DebitRequest base=-\n  id 0 IdempotencyKey : string\n  id 1 Kind : Qubrid.LedgerEntryKind\n  id 2 Amount : qubrid.Micros\n", dump);
        Assert.Contains("state qubrid.SessionGrainState clr=Qubrid.SessionGrainState base=-\n", dump);
        Assert.Contains("  id 3 UsdPerHour : decimal\n", dump);
        Assert.Contains("enum Qubrid.LedgerEntryKind : byte\n", dump);
        Assert.Contains("  value SessionCharge = 3\n", dump);
        Assert.Contains("  method Debit (qubrid.DebitRequest) -> System.Threading.Tasks.Task<qubrid.WalletOpResult>\n", dump);
        Assert.Matches(@"interface qubrid\.IWalletGrain version=\d+\n", dump);
    }

    [Fact]
    public void A_dump_reads_back_as_the_same_shapes()
    {
        var dump = ContractShapes.OfThisBuild().ToString();
        Assert.Equal(dump, ContractShapes.Parse(dump).ToString());
    }

    [Fact]
    public void A_build_read_from_its_folder_has_the_shapes_of_the_loaded_one()
    {
        // How the snapshot of a release is made: the dumper reads another build's dlls from their folder.
        var folder = Path.GetDirectoryName(typeof(IWalletGrain).Assembly.Location)!;
        Assert.Equal(ContractShapes.OfThisBuild().ToString(), ContractShapes.OfFolder(folder).ToString());
    }

    private const string SessionState = "state qubrid.SessionGrainState clr=Qubrid.SessionGrainState base=-\n";

    /// <summary>A kind of break: a text of this build's dump, what the previous release had there instead, the break expected.</summary>
    public static TheoryData<string, string, string, string> Mutations => new()
    {
        { "removed id", SessionState + "  id 0 UserId : string\n", SessionState + "  id 0 UserId : string\n  id 99 Gone : string\n",
            "qubrid.SessionGrainState.Gone [Id(99)] removed" },
        { "retyped id", SessionState + "  id 0 UserId : string\n", SessionState + "  id 0 UserId : long\n",
            "qubrid.SessionGrainState.UserId [Id(0)] retyped from long to string" },
        { "renamed state member", SessionState + "  id 0 UserId : string\n", SessionState + "  id 0 OwnerId : string\n",
            "qubrid.SessionGrainState.OwnerId [Id(0)] renamed to UserId" },
        { "changed alias", "type qubrid.DebitRequest ", "type qubrid.DebitRequestV0 ", "type qubrid.DebitRequestV0 is gone" },
        { "removed method", "  method Debit (qubrid.DebitRequest)", "  method Vanished () -> System.Threading.Tasks.Task\n  method Debit (qubrid.DebitRequest)",
            "grain interface qubrid.IWalletGrain.Vanished removed" },
        { "retyped parameter", "  method Debit (qubrid.DebitRequest)", "  method Debit (qubrid.CreditRequest)",
            "grain interface qubrid.IWalletGrain.Debit parameters changed from (qubrid.CreditRequest) to (qubrid.DebitRequest)" },
        { "removed enum value", "  value SessionCharge = 3\n", "  value SessionCharge = 3\n  value Chargeback = 42\n",
            "enum Qubrid.LedgerEntryKind.Chargeback (= 42) removed" },
        { "renumbered enum value", "  value SessionCharge = 3\n", "  value SessionCharge = 4\n",
            "enum Qubrid.LedgerEntryKind.SessionCharge renumbered from 4 to 3" },
    };

    [Theory]
    [MemberData(nameof(Mutations))]
    public void A_snapshot_the_build_no_longer_satisfies_fails_the_check_naming_the_member(string kind, string now, string before, string expected)
    {
        var current = ContractShapes.OfThisBuild();
        var text = current.ToString();
        Assert.Contains(now, text);
        var breaks = current.BreaksAgainst(ContractShapes.Parse(ReplaceFirst(text, now, before)));
        Assert.True(breaks.Count == 1, $"{kind}: expected one break, got:\n" + string.Join("\n", breaks));
        Assert.StartsWith(expected, breaks[0]);
    }

    [Fact]
    public void A_renamed_message_member_with_the_same_id_and_type_is_allowed()
    {
        // The binary wire format carries ids, not names; only grain state (JSON) is read by name.
        var current = ContractShapes.OfThisBuild();
        var text = current.ToString();
        const string debit = "type qubrid.DebitRequest clr=Qubrid.DebitRequest base=-\n  id 0 IdempotencyKey : string\n";
        Assert.Contains(debit, text);
        Assert.Empty(current.BreaksAgainst(ContractShapes.Parse(ReplaceFirst(text, debit, debit.Replace(" IdempotencyKey ", " Key ")))));
    }

    [Fact]
    public void A_lowered_interface_version_fails_the_check()
    {
        var current = ContractShapes.OfThisBuild();
        var wallet = current.Shapes.OfType<ContractShapes.InterfaceShape>().Single(i => i.Key == "qubrid.IWalletGrain");
        var previous = new ContractShapes([.. current.Shapes.Where(s => s != wallet), wallet with { Version = wallet.Version + 1 }]);
        Assert.Equal([$"grain interface qubrid.IWalletGrain: [Version] lowered from {wallet.Version + 1} to {wallet.Version}"], current.BreaksAgainst(previous));
    }

    [Fact]
    public void A_method_added_without_raising_the_version_fails_and_with_it_passes()
    {
        var current = ContractShapes.OfThisBuild();
        var wallet = current.Shapes.OfType<ContractShapes.InterfaceShape>().Single(i => i.Key == "qubrid.IWalletGrain");
        var fewer = wallet with { Methods = [.. wallet.Methods.Where(m => m.Alias != "GetHolds")] };
        var previous = new ContractShapes([.. current.Shapes.Where(s => s != wallet), fewer]);
        var breaks = current.BreaksAgainst(previous);
        Assert.Single(breaks);
        Assert.StartsWith($"grain interface qubrid.IWalletGrain gained GetHolds without raising [Version] above {wallet.Version}", breaks[0]);

        var older = new ContractShapes([.. current.Shapes.Where(s => s != wallet), fewer with { Version = wallet.Version - 1 }]);
        Assert.Empty(current.BreaksAgainst(older));
    }

    [Fact]
    public void Added_ids_types_enum_values_and_methods_are_allowed()
    {
        var current = ContractShapes.OfThisBuild();
        var text = current.ToString();
        // The previous release without DebitRequest's last id, without an enum value and without UsageTags at all.
        var lines = text.Split('\n').ToList();
        var debit = lines.IndexOf("type qubrid.DebitRequest clr=Qubrid.DebitRequest base=-");
        lines.RemoveAt(lines.FindIndex(debit, l => l.StartsWith("  id 5 AllowPartial", StringComparison.Ordinal)));
        lines.Remove("  value HoldCapture = 9");
        var tags = lines.IndexOf("type qubrid.UsageTags clr=Qubrid.UsageTags base=-");
        while (lines[tags + 1].StartsWith("  ", StringComparison.Ordinal)) lines.RemoveAt(tags + 1);
        lines.RemoveAt(tags);
        Assert.Empty(current.BreaksAgainst(ContractShapes.Parse(string.Join('\n', lines))));
    }

    [Fact]
    public void A_snapshot_line_that_is_not_a_shape_is_refused()
    {
        var e = Assert.Throws<FormatException>(() => ContractShapes.Parse(ContractShapes.Header + "\ntype qubrid.X clr=X base=-\n  idd 0 A : string\n"));
        Assert.Contains("line 3", e.Message);
    }

    private static string ReplaceFirst(string text, string what, string with)
    {
        var at = text.IndexOf(what, StringComparison.Ordinal);
        return text[..at] + with + text[(at + what.Length)..];
    }
}
