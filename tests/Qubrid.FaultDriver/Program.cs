using Qubrid.FaultDriver;

// The fault test's load driver and checker (scripts/fault-test.sh runs it):
//   load   --url U --admin-key K --seconds S --wallets N --sessions M --workers W --out DIR
//   verify --db CS --out DIR --interval SECONDS [--kill-at UNIXSECONDS] [--outage-from T --outage-to T] [--failover-at T --promoted-at T] [--fault-at T]
//   verify-restore --db CS --outs DIR[,DIR...] --at UNIXSECONDS
return args switch
{
    ["load", .. var rest] => await LoadCommand.RunAsync(Options.Parse(rest)),
    ["verify", .. var rest] => await VerifyCommand.RunAsync(Options.Parse(rest)),
    ["verify-restore", .. var rest] => await VerifyRestoreCommand.RunAsync(Options.Parse(rest)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Qubrid.FaultDriver load|verify --option value ...");
    return 2;
}
