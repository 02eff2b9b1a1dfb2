using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using YamlDotNet.RepresentationModel;

namespace Qubrid.Tests.Deployment;

/// <summary>
/// Docker does not run where the tests run, so these read docker-compose.yml and the Dockerfiles
/// as text and check what <c>docker compose up --build</c> depends on: the services and their start
/// order, the images' build inputs and entry points, the silos' addresses and the settings the code reads.
/// </summary>
public class ComposeFileTests
{
    private const string ComposeFileName = "docker-compose.yml";
    private const string SolutionFileName = "Qubrid.Orleans.sln";
    private static readonly string[] Silos = ["silo1", "silo2"];
    private static readonly string[] DotnetServices = ["silo1", "silo2", "api"];
    private static readonly string[] PostgresNodes = ["pg1", "pg2"];
    private static readonly string[] EtcdMembers = ["etcd1", "etcd2", "etcd3"];

    private static readonly Lazy<string> LazyRoot = new(FindRepositoryRoot);
    private static string Root => LazyRoot.Value;

    [Fact]
    public void ComposeFile_ParsesAsOneYamlDocumentWithServices()
    {
        var stream = LoadYaml();

        var document = Assert.Single(stream.Documents);
        var root = Assert.IsType<YamlMappingNode>(document.RootNode);
        Assert.IsType<YamlMappingNode>(Child(root, "services"));
    }

    [Fact]
    public void ComposeFile_DefinesThreeEtcdMembersTwoPatroniNodesTwoSilosTwoApisAndTheLoadBalancer()
    {
        var names = Services().Children.Keys.Select(Text).ToHashSet();

        foreach (var expected in EtcdMembers.Concat(PostgresNodes).Concat(["silo1", "silo2", "api", "api2", "lb"]))
            Assert.Contains(expected, names);
    }

    [Fact]
    public void EachPostgresNodeAndEtcdMember_KeepsItsDataInItsOwnNamedVolume_AndHasAHealthcheck()
    {
        var declaredVolumes = Child(Compose(), "volumes") is YamlMappingNode m
            ? m.Children.Keys.Select(Text).ToHashSet()
            : [];
        var sources = new List<string>();
        foreach (var (service, dataDir) in PostgresNodes.Select(n => (n, "/var/lib/postgresql/patroni")).Concat(EtcdMembers.Select(e => (e, "/etcd-data"))))
        {
            var mounts = Assert.IsType<YamlSequenceNode>(Child(Service(service), "volumes")).Children.Select(VolumeMount).ToList();
            var data = Assert.Single(mounts, v => v.Target == dataDir);
            Assert.Contains(data.Source, declaredVolumes);
            sources.Add(data.Source);
            var healthcheck = Assert.IsType<YamlMappingNode>(Child(Service(service), "healthcheck"));
            Assert.NotNull(Child(healthcheck, "test"));
        }
        Assert.Equal(sources.Count, sources.Distinct().Count()); // no two nodes share a data folder
    }

    [Fact]
    public void EveryDependency_WaitsUntilTheDependencyIsHealthy()
    {
        var services = Services();
        var dependencies = 0;
        foreach (var (key, value) in services.Children)
        {
            var service = (YamlMappingNode)value;
            var dependsOn = Child(service, "depends_on");
            if (dependsOn is null)
                continue;
            // The list form of depends_on means "service_started": the dependency may not be ready yet.
            var byName = Assert.IsType<YamlMappingNode>(dependsOn);
            foreach (var (dependencyKey, condition) in byName.Children)
            {
                var dependency = Text(dependencyKey);
                var conditionText = Child(Assert.IsType<YamlMappingNode>(condition), "condition") is { } c ? Text(c) : null;
                dependencies++;
                // A one-shot step (restart: "no", e.g. tls-init) is waited for until it has finished successfully.
                if (Child(Service(dependency), "restart") is { } restart && Text(restart) == "no")
                {
                    Assert.True(conditionText == "service_completed_successfully",
                        $"{Text(key)} depends on the one-shot {dependency} with condition '{conditionText}', not service_completed_successfully.");
                    continue;
                }
                Assert.True(conditionText == "service_healthy",
                    $"{Text(key)} depends on {dependency} with condition '{conditionText}', not service_healthy.");
                Assert.True(Child(Service(dependency), "healthcheck") is YamlMappingNode,
                    $"{Text(key)} waits for {dependency} to be healthy, but {dependency} has no healthcheck.");
            }
        }
        Assert.True(dependencies > 0, "No service depends on another.");
    }

    [Theory]
    [InlineData("silo1")]
    [InlineData("silo2")]
    [InlineData("api")]
    public void Service_BuildsFromADockerfileInTheRepository(string service)
    {
        var dockerfile = DockerfileOf(service);

        Assert.True(File.Exists(dockerfile), $"{service} builds from {dockerfile}, which does not exist.");
    }

    [Fact]
    public void SilosAndApi_NameEveryPostgresNodeAndUseThePrimary()
    {
        foreach (var service in DotnetServices)
        {
            var cs = Setting(service, "ConnectionStrings__Qubrid");

            // Every node; Npgsql uses whichever is the primary, so a failover needs no restart.
            Assert.Contains($"Host={string.Join(',', PostgresNodes)};", cs);
            Assert.Contains("Target Session Attributes=primary;", cs);
        }
    }

    [Fact]
    public void PatroniNodes_ShareOneConfig_SynchronousStrictWithRewind_OnTheEtcdMembers_WithTheScriptsFailoverTiming()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in PostgresNodes)
        {
            Assert.Equal(Path.Combine(Root, "deploy/patroni/Dockerfile"), DockerfileOf(node));
            var mounted = Assert.IsType<YamlSequenceNode>(Child(Service(node), "configs")).Children.OfType<YamlMappingNode>().ToList();
            Assert.Contains(mounted, c => Text(Child(c, "source")!) == "patroni" && Text(Child(c, "target")!) == "/etc/patroni/patroni.yml");
            Assert.True(names.Add(Setting(node, "PATRONI_NAME")), $"{node}'s PATRONI_NAME is another node's");
            Assert.Equal($"{node}:5432", Setting(node, "PATRONI_POSTGRESQL_CONNECT_ADDRESS"));
        }

        var config = new YamlStream();
        config.Load(new StringReader(Text(Child(Assert.IsType<YamlMappingNode>(Child(Assert.IsType<YamlMappingNode>(Child(Compose(), "configs")), "patroni")), "content")!)));
        var root = (YamlMappingNode)config.Documents[0].RootNode;
        var dcs = Assert.IsType<YamlMappingNode>(Child(Assert.IsType<YamlMappingNode>(Child(root, "bootstrap")), "dcs"));
        Assert.Equal("true", Text(Child(dcs, "synchronous_mode")!)); // only a synchronous standby is promoted
        Assert.Equal("true", Text(Child(dcs, "synchronous_mode_strict")!)); // a commit is acknowledged on two nodes
        Assert.Equal("0", Text(Child(dcs, "maximum_lag_on_failover")!));
        Assert.Equal("true", Text(Child(Assert.IsType<YamlMappingNode>(Child(dcs, "postgresql")), "use_pg_rewind")!));

        // The failover timing is the one scripts/lib/patroni.sh runs and docs/operations.md explains.
        var script = File.ReadAllText(Path.Combine(Root, "scripts/lib/patroni.sh"));
        foreach (var (key, variable) in new[] { ("ttl", "QUBRID_HA_TTL"), ("loop_wait", "QUBRID_HA_LOOP_WAIT"), ("retry_timeout", "QUBRID_HA_RETRY_TIMEOUT") })
        {
            var scriptDefault = Regex.Match(script, $@"\$\{{{variable}:-(\d+)\}}").Groups[1].Value;
            Assert.Equal(scriptDefault, Text(Child(dcs, key)!));
        }
        int ttl = int.Parse(Text(Child(dcs, "ttl")!)), loopWait = int.Parse(Text(Child(dcs, "loop_wait")!)), retry = int.Parse(Text(Child(dcs, "retry_timeout")!));
        Assert.True(loopWait + 2 * retry <= ttl, "Patroni needs loop_wait + 2 x retry_timeout <= ttl");

        // Patroni 3.0.2 speaks etcd's v2 API (scripts/lib/patroni.sh says why): every member listed, each with v2 on.
        var hosts = Text(Child(Assert.IsType<YamlMappingNode>(Child(root, "etcd")), "hosts")!);
        foreach (var member in EtcdMembers)
        {
            Assert.Contains($"{member}:2379", hosts);
            Assert.Contains("--enable-v2=true", Assert.IsType<YamlSequenceNode>(Child(Service(member), "command")).Children.Select(Text));
        }

        var bootstrap = Text(Child(Assert.IsType<YamlMappingNode>(Child(Assert.IsType<YamlMappingNode>(Child(Compose(), "configs")), "patroni-post-bootstrap")), "content")!);
        Assert.Contains("CREATE ROLE qubrid LOGIN", bootstrap);
        Assert.Contains("CREATE DATABASE qubrid OWNER qubrid", bootstrap);
    }

    [Fact]
    public void TheLoadBalancer_Publishes5080AndSendsToBothApiProcessesOnTheirPort8080()
    {
        var ports = Assert.IsType<YamlSequenceNode>(Child(Service("lb"), "ports")).Children.Select(PortMapping).ToList();
        Assert.Contains(ports, p => p.Published == "5080" && p.Target == "5080");
        Assert.Null(Child(Service("api"), "ports")); // clients reach the API processes only through the load balancer
        Assert.Null(Child(Service("api2"), "ports"));

        var config = LoadBalancerConfig();
        Assert.Contains("bind :5080", config);
        Assert.Contains("option httpchk GET /health/ready", config);
        Assert.Contains("server api api:8080 check", config);
        Assert.Contains("server api2 api2:8080 check", config);
        Assert.Equal(Text(Child(Service("api"), "build")!.AllNodes.OfType<YamlScalarNode>().Last()), Text(Child(Service("api2"), "build")!.AllNodes.OfType<YamlScalarNode>().Last()));
    }

    [Fact]
    public void TheLoadBalancerConfig_IsTheOneTheScriptsWrite()
    {
        // scripts/lib/haproxy.sh writes the configuration the local cluster runs; the compose file carries the same text.
        var start = new System.Diagnostics.ProcessStartInfo("bash", ["-c", "source scripts/lib/haproxy.sh && haproxy_config :5080 api=api:8080 api2=api2:8080"])
        {
            WorkingDirectory = Root, RedirectStandardOutput = true, UseShellExecute = false,
        };
        using var bash = System.Diagnostics.Process.Start(start)!;
        var written = bash.StandardOutput.ReadToEnd();
        bash.WaitForExit();
        Assert.Equal(0, bash.ExitCode);

        static IEnumerable<string> Lines(string text) => text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.TrimEnd());
        Assert.Equal(Lines(written), Lines(LoadBalancerConfig()));
    }

    private static string LoadBalancerConfig() =>
        Text(Child(Assert.IsType<YamlMappingNode>(Child(Assert.IsType<YamlMappingNode>(Child(Compose(), "configs")), "haproxy-cfg")), "content")!);

    [Fact]
    public void Api_ListensOn8080OnEveryInterface()
    {
        // By default the API listens on 127.0.0.1:5080 only, which a published container port cannot reach.
        Assert.Equal("http://0.0.0.0:8080", Setting("api", "Urls"));
    }

    [Fact]
    public void Silos_AdvertiseDistinctOwnAddressesInsideTheNetworkSubnet()
    {
        var networks = Assert.IsType<YamlMappingNode>(Child(Compose(), "networks"));
        var advertised = new List<IPAddress>();
        foreach (var silo in Silos)
        {
            var text = Setting(silo, "Qubrid__Silo__AdvertisedIPAddress");
            var address = IPAddress.TryParse(text, out var parsed)
                ? parsed
                : throw new Xunit.Sdk.XunitException($"{silo} advertises '{text}', not an IP address.");

            // The advertised address must be the container's own: its fixed address on a compose network.
            var attached = Assert.IsType<YamlMappingNode>(Child(Service(silo), "networks"));
            var network = Assert.Single(
                attached.Children.Select(kv => (Name: Text(kv.Key), Address: kv.Value is YamlMappingNode n && Child(n, "ipv4_address") is { } a ? Text(a) : null)),
                n => n.Address == address.ToString()).Name;

            var pools = Assert.IsType<YamlSequenceNode>(Child(
                Assert.IsType<YamlMappingNode>(Child(Assert.IsType<YamlMappingNode>(Child(networks, network)), "ipam")), "config"));
            var pool = Assert.Single(pools.Children.OfType<YamlMappingNode>(),
                p => Child(p, "subnet") is { } s && IPNetwork.Parse(Text(s)).Contains(address));
            // Addresses handed out automatically must not be able to take the silo's fixed one.
            if (Child(pool, "ip_range") is { } range)
                Assert.False(IPNetwork.Parse(Text(range)).Contains(address),
                    $"{silo}'s fixed address {address} lies in the automatic ip_range {Text(range)}.");
            advertised.Add(address);
        }

        Assert.Equal(advertised.Count, advertised.Distinct().Count());
    }

    [Theory]
    [InlineData("silo1", "Qubrid.Silo")]
    [InlineData("silo2", "Qubrid.Silo")]
    [InlineData("api", "Qubrid.Api")]
    public void Dockerfile_FinalStageRunsTheAssemblyItPublishes(string service, string expectedAssembly)
    {
        var instructions = DockerInstructions(DockerfileOf(service));

        var publishStep = Assert.Single(instructions, i => PublishRegex.IsMatch(i));
        var project = Path.GetFullPath(Path.Combine(Root, PublishRegex.Match(publishStep).Groups["project"].Value));
        var assembly = AssemblyNameOf(project);
        Assert.Equal(expectedAssembly, assembly);

        var finalStage = instructions.Skip(instructions.FindLastIndex(i => Keyword(i) == "FROM") + 1).ToList();
        var output = OutputRegex.Match(publishStep);
        Assert.True(output.Success, $"The publish step does not name its output folder: {publishStep}");
        Assert.Contains(finalStage, i => Keyword(i) == "COPY" && i.Contains("--from=", StringComparison.Ordinal)
            && Arguments(i).Contains(output.Groups["dir"].Value));

        var entry = finalStage.LastOrDefault(i => Keyword(i) == "ENTRYPOINT") ?? finalStage.LastOrDefault(i => Keyword(i) == "CMD");
        Assert.NotNull(entry);
        Assert.Equal(new[] { "dotnet", $"{assembly}.dll" }, ExecForm(entry));
    }

    [Theory]
    [InlineData("silo1")]
    [InlineData("api")]
    public void Dockerfile_CopiesEveryFileRestoreReadsBeforeRestoring(string service)
    {
        var instructions = DockerInstructions(DockerfileOf(service));
        var restoreIndex = instructions.FindIndex(i => Keyword(i) == "RUN" && i.Contains("dotnet restore", StringComparison.Ordinal));
        Assert.True(restoreIndex >= 0, $"{service}'s Dockerfile has no separate dotnet restore step.");
        var copied = instructions.Take(restoreIndex)
            .Where(i => Keyword(i) == "COPY")
            .SelectMany(i => Arguments(i).Where(a => !a.StartsWith("--", StringComparison.Ordinal)).SkipLast(1))
            .ToList();
        var publish = PublishRegex.Match(Assert.Single(instructions, i => PublishRegex.IsMatch(i)));
        var project = Path.GetFullPath(Path.Combine(Root, publish.Groups["project"].Value));

        var needed = ProjectClosure(project).Select(Relative)
            .Concat(["Directory.Build.props", "Directory.Packages.props"]);

        foreach (var file in needed)
            Assert.True(copied.Any(c => c == file || file.StartsWith(c.TrimEnd('/') + "/", StringComparison.Ordinal)),
                $"{service}'s Dockerfile restores before copying {file}.");
    }

    [Fact]
    public void ComposeSiloSettings_AreOnesTheSiloCodeReads()
    {
        var code = File.ReadAllText(Path.Combine(Root, "src", "Silo", "SiloHostingExtensions.cs"));
        Assert.Contains("\"Qubrid:Silo\"", code);

        foreach (var setting in new[] { "AdvertisedIPAddress", "SiloPort", "GatewayPort" })
        {
            Assert.Contains(setting, code);
            foreach (var silo in Silos)
                Assert.True(EnvironmentOf(silo).ContainsKey($"Qubrid__Silo__{setting}"), $"{silo} does not set Qubrid__Silo__{setting}.");
        }
    }

    [Fact]
    public void ComposeFile_HasNoDefaultSecrets()
    {
        var text = File.ReadAllText(Path.Combine(Root, ComposeFileName));
        // Every variable that carries a password or key must be required (${VAR:?message}), never defaulted.
        var variables = Regex.Matches(text, @"\$\{(?<name>[A-Z0-9_]+)(?<rest>[^}]*)\}").Select(m => (m.Groups["name"].Value, m.Groups["rest"].Value)).ToList();
        var secrets = variables.Where(v => v.Item1.Contains("PASSWORD", StringComparison.Ordinal) || v.Item1.EndsWith("_KEY", StringComparison.Ordinal)).ToList();

        Assert.Contains(secrets, v => v.Item1 == "QUBRID_DB_PASSWORD");
        Assert.Contains(secrets, v => v.Item1 == "QUBRID_ADMIN_KEY");
        foreach (var (name, rest) in secrets)
            Assert.True(rest.StartsWith(":?", StringComparison.Ordinal), $"${{{name}{rest}}} is not a required variable (${{{name}:?...}}).");
        foreach (var node in PostgresNodes)
            foreach (var variable in new[] { "PATRONI_SUPERUSER_PASSWORD", "PATRONI_REPLICATION_PASSWORD", "PATRONI_REWIND_PASSWORD", "QUBRID_DB_PASSWORD" })
                Assert.Equal("${QUBRID_DB_PASSWORD:?set QUBRID_DB_PASSWORD}", EnvironmentOf(node)[variable]);
        foreach (var service in DotnetServices)
            Assert.Contains("Password=${QUBRID_DB_PASSWORD:?", Setting(service, "ConnectionStrings__Qubrid"));
    }

    [Fact]
    public void SilosAndApi_UseClusterTlsFromTheVolumeTheInitStepFills()
    {
        var code = File.ReadAllText(Path.Combine(Root, "src", "ServiceDefaults", "ClusterTls.cs"));
        Assert.Contains("\"Qubrid:Tls\"", code);
        var init = Service("tls-init");
        Assert.Equal(new[] { "tls", "create", "/tls" }, Assert.IsType<YamlSequenceNode>(Child(init, "command")).Children.Select(Text));
        Assert.Equal(DockerfileOf("silo1"), DockerfileOf("tls-init"));
        var initMount = Assert.Single(Assert.IsType<YamlSequenceNode>(Child(init, "volumes")).Children.Select(VolumeMount), m => m.Target == "/tls");

        foreach (var service in DotnetServices)
        {
            foreach (var (setting, file) in new[] { ("CertificatePath", "node.crt"), ("KeyPath", "node.key"), ("CaPath", "ca.crt") })
            {
                Assert.Contains($"{setting} ", code.Replace("{ get; set; }", " ", StringComparison.Ordinal));
                Assert.Equal($"/tls/{file}", Setting(service, $"Qubrid__Tls__{setting}"));
            }
            var mounts = Assert.IsType<YamlSequenceNode>(Child(Service(service), "volumes")).Children.Select(VolumeMount).ToList();
            Assert.Contains(mounts, m => m.Target == "/tls" && m.Source == initMount.Source);
            var dependsOn = Assert.IsType<YamlMappingNode>(Child(Service(service), "depends_on"));
            Assert.NotNull(Child(dependsOn, "tls-init"));
        }
        // The silo image gives the app user the mount point, so that a fresh named volume is writable by tls-init.
        Assert.Contains(DockerInstructions(DockerfileOf("silo1")), i => Keyword(i) == "RUN" && i.Contains("chown app", StringComparison.Ordinal) && i.Contains("/tls", StringComparison.Ordinal));
    }

    // ---- compose file ----

    private static YamlStream LoadYaml()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Root, ComposeFileName))));
        return stream;
    }

    private static YamlMappingNode Compose() => (YamlMappingNode)LoadYaml().Documents[0].RootNode;

    private static YamlMappingNode Services() => (YamlMappingNode)(Child(Compose(), "services")
        ?? throw new InvalidOperationException($"{ComposeFileName} has no services."));

    private static YamlMappingNode Service(string name) => Child(Services(), name) as YamlMappingNode
        ?? throw new InvalidOperationException($"{ComposeFileName} has no service '{name}'.");

    private static YamlNode? Child(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static string Text(YamlNode node) => node is YamlScalarNode scalar
        ? scalar.Value ?? ""
        : throw new InvalidOperationException($"Expected a scalar at {node.Start}, found {node.NodeType}.");

    /// <summary>The environment in either compose form: a mapping, or a list of KEY=value.</summary>
    private static Dictionary<string, string> EnvironmentOf(string service)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (Child(Service(service), "environment"))
        {
            case YamlMappingNode map:
                foreach (var (key, value) in map.Children)
                    result[Text(key)] = Text(value);
                break;
            case YamlSequenceNode list:
                foreach (var item in list.Children.Select(Text))
                {
                    var eq = item.IndexOf('=', StringComparison.Ordinal);
                    result[eq < 0 ? item : item[..eq]] = eq < 0 ? "" : item[(eq + 1)..];
                }
                break;
        }
        return result;
    }

    /// <summary>A non-empty environment variable of the service, or a failure that names it.</summary>
    private static string Setting(string service, string name) =>
        EnvironmentOf(service).TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new Xunit.Sdk.XunitException($"{service} does not set {name}.");

    /// <summary>build: "dir" or build: { context, dockerfile }, resolved against the repository root.</summary>
    private static string DockerfileOf(string service)
    {
        var build = Child(Service(service), "build") ?? throw new InvalidOperationException($"{service} has no build section.");
        string context, dockerfile = "Dockerfile";
        if (build is YamlMappingNode map)
        {
            context = Child(map, "context") is { } c ? Text(c) : ".";
            if (Child(map, "dockerfile") is { } d)
                dockerfile = Text(d);
        }
        else
        {
            context = Text(build);
        }
        return Path.GetFullPath(Path.Combine(Root, context, dockerfile));
    }

    private static (string Source, string Target) VolumeMount(YamlNode node)
    {
        if (node is YamlMappingNode map)
            return (Child(map, "source") is { } s ? Text(s) : "", Child(map, "target") is { } t ? Text(t) : "");
        var parts = Text(node).Split(':');
        return parts.Length >= 2 ? (parts[0], parts[1]) : ("", parts[0]);
    }

    private static (string Published, string Target) PortMapping(YamlNode node)
    {
        if (node is YamlMappingNode map)
            return (Child(map, "published") is { } p ? Text(p) : "", Child(map, "target") is { } t ? Text(t) : "");
        var parts = Text(node).Split('/')[0].Split(':');
        return parts.Length switch
        {
            1 => ("", parts[0]),
            2 => (parts[0], parts[1]),
            _ => (parts[^2], parts[^1]),
        };
    }

    // ---- Dockerfiles and projects ----

    private static readonly Regex PublishRegex = new(@"^RUN\s.*\bdotnet\s+publish\s+(?<project>\S+\.csproj)\b", RegexOptions.IgnoreCase);
    private static readonly Regex OutputRegex = new(@"\s(-o|--output)\s+(?<dir>\S+)");

    /// <summary>Instructions with continuation lines joined, comments and blank lines dropped.</summary>
    private static List<string> DockerInstructions(string path)
    {
        var instructions = new List<string>();
        var current = "";
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (current.Length == 0 && (line.Length == 0 || line.StartsWith('#')))
                continue;
            if (line.EndsWith('\\'))
            {
                current += line[..^1] + " ";
                continue;
            }
            instructions.Add((current + line).Trim());
            current = "";
        }
        if (current.Length > 0)
            instructions.Add(current.Trim());
        return instructions;
    }

    private static string Keyword(string instruction) => instruction.Split(' ', 2)[0].ToUpperInvariant();

    private static string[] Arguments(string instruction) =>
        instruction.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray();

    private static string[] ExecForm(string instruction)
    {
        var rest = instruction.Split(' ', 2) is [_, var r] ? r.Trim() : "";
        return rest.StartsWith('[')
            ? JsonSerializer.Deserialize<string[]>(rest) ?? []
            : rest.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
    }

    private static string AssemblyNameOf(string csproj)
    {
        var declared = XDocument.Load(csproj).Descendants("AssemblyName").Select(e => e.Value.Trim()).LastOrDefault(v => v.Length > 0);
        return declared ?? Path.GetFileNameWithoutExtension(csproj);
    }

    /// <summary>The project and every project it references, directly or not.</summary>
    private static HashSet<string> ProjectClosure(string csproj)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([csproj]);
        while (pending.TryPop(out var project))
        {
            if (!seen.Add(project))
                continue;
            var dir = Path.GetDirectoryName(project)!;
            foreach (var reference in XDocument.Load(project).Descendants("ProjectReference"))
            {
                var include = reference.Attribute("Include")?.Value;
                if (!string.IsNullOrEmpty(include))
                    pending.Push(Path.GetFullPath(Path.Combine(dir, include.Replace('\\', '/'))));
            }
        }
        return seen;
    }

    private static string Relative(string path) => Path.GetRelativePath(Root, path).Replace('\\', '/');

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFileName)))
                return dir.FullName;
        }
        throw new InvalidOperationException($"No {SolutionFileName} above {AppContext.BaseDirectory}.");
    }
}
