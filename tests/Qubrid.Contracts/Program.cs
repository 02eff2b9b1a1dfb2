using Qubrid.Contracts;

// dump [BIN_DIR]: the contract shapes of a build (default: this one) on stdout.
// check SNAPSHOT [BIN_DIR]: the breaks of a build's shapes against a snapshot (docs/contracts/previous-release.txt); exit 1 on any.
// migrations FILE...: the statements of these migrations that would break the previous release (MigrationRules); exit 1 on any.
switch (args)
{
    case ["dump"]:
        Console.Write(ContractShapes.OfThisBuild());
        return 0;
    case ["dump", var dir]:
        Console.Write(ContractShapes.OfFolder(dir));
        return 0;
    case ["check", var snapshot, .. var rest] when rest.Length <= 1:
        var current = rest.Length == 0 ? ContractShapes.OfThisBuild() : ContractShapes.OfFolder(rest[0]);
        var breaks = current.BreaksAgainst(ContractShapes.Parse(File.ReadAllText(snapshot))).Concat(current.OwnRuleBreaks()).ToList();
        foreach (var b in breaks) Console.Error.WriteLine($"contract break: {b}");
        Console.WriteLine($"contracts: {current.Shapes.Count} shapes checked against {snapshot}: {breaks.Count} breaks");
        return breaks.Count == 0 ? 0 : 1;
    case ["migrations", .. var files] when files.Length > 0:
        var refused = files.SelectMany(f => MigrationRules.Breaks(Path.GetFileName(f), File.ReadAllText(f))).ToList();
        foreach (var b in refused) Console.Error.WriteLine($"migration break: {b}");
        Console.WriteLine($"migrations: {files.Length} files read: {refused.Count} statements that break the previous release");
        return refused.Count == 0 ? 0 : 1;
    default:
        Console.Error.WriteLine("usage: Qubrid.Contracts dump [BIN_DIR] | check SNAPSHOT [BIN_DIR] | migrations FILE...");
        return 2;
}
