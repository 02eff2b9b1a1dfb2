using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.RegularExpressions;

namespace Qubrid.Contracts;

/// <summary>
/// The serialized shapes of a build's grain contracts, as a sorted text that can be checked in (docs/contracts/):
/// every <c>[GenerateSerializer]</c> type with its alias, base type and each <c>[Id(n)]</c> member's name and type; the
/// enums those members use; every grain interface with its alias, <c>[Version]</c> and each method's alias, parameter
/// types and return type. Types are named by their <c>[Alias]</c> where they have one (what the wire carries), else by
/// their full name. Read by reflection metadata only (attribute data), so it works on another release's assemblies.
/// </summary>
public sealed partial record ContractShapes(IReadOnlyList<ContractShapes.Shape> Shapes)
{
    /// <summary>The assemblies whose contracts are dumped.</summary>
    public static readonly string[] AssemblyNames = ["Qubrid.Grains.Interfaces", "Qubrid.Grains"];

    public const string Header =
        "# Contract shapes of the grain messages, grain state and grain interfaces (tests/Qubrid.Contracts; docs/design.md#versioned-contracts).";

    public abstract record Shape(string Key)
    {
        public abstract IEnumerable<string> Lines();
    }

    /// <param name="Key">The type's alias (or full name).</param>
    /// <param name="State">Persisted as grain state (JSON by member name in grain storage).</param>
    public sealed record TypeShape(string Key, string ClrName, string Base, bool State, IReadOnlyList<MemberShape> Members) : Shape(Key)
    {
        public override IEnumerable<string> Lines()
        {
            yield return $"{(State ? "state" : "type")} {Key} clr={ClrName} base={Base}";
            foreach (var m in Members.OrderBy(m => m.Id)) yield return $"  id {m.Id} {m.Name} : {m.Type}";
        }
    }

    public sealed record MemberShape(uint Id, string Name, string Type);

    public sealed record EnumShape(string Key, string Underlying, IReadOnlyList<(string Name, string Value)> Values) : Shape(Key)
    {
        public override IEnumerable<string> Lines()
        {
            yield return $"enum {Key} : {Underlying}";
            foreach (var (name, value) in Values.OrderBy(v => v.Name, StringComparer.Ordinal)) yield return $"  value {name} = {value}";
        }
    }

    /// <param name="Declared">The interface carries <c>[Version]</c> itself (otherwise Orleans takes 0).</param>
    /// <param name="Stateless">Implemented by a <c>[StatelessWorker]</c> grain: Orleans does not route those by version.</param>
    public sealed record InterfaceShape(string Key, int Version, bool Declared, bool Stateless, IReadOnlyList<MethodShape> Methods) : Shape(Key)
    {
        public override IEnumerable<string> Lines()
        {
            yield return $"interface {Key} version={Version}{(Declared ? "" : " (not declared)")}{(Stateless ? " stateless" : "")}";
            foreach (var m in Methods.OrderBy(m => m.Alias, StringComparer.Ordinal))
                yield return $"  method {m.Alias} ({string.Join(", ", m.Parameters)}) -> {m.Returns}";
        }
    }

    public sealed record MethodShape(string Alias, IReadOnlyList<string> Parameters, string Returns);

    public override string ToString()
    {
        var text = new StringBuilder().Append(Header).Append('\n');
        foreach (var shape in Shapes.OrderBy(s => s.GetType().Name, StringComparer.Ordinal).ThenBy(s => s.Key, StringComparer.Ordinal))
            foreach (var line in shape.Lines()) text.Append(line).Append('\n');
        return text.ToString();
    }

    // ---- reading a build ----

    /// <summary>The shapes of the assemblies loaded in this process (this build).</summary>
    public static ContractShapes OfThisBuild() =>
        Of(AssemblyNames.Select(n => Assembly.Load(new AssemblyName(n))));

    /// <summary>The shapes of the Qubrid assemblies in another build's output folder (e.g. the previous release's).</summary>
    public static ContractShapes OfFolder(string binDirectory)
    {
        var dir = Path.GetFullPath(binDirectory);
        var context = new FolderLoadContext(dir);
        try
        {
            return Of(AssemblyNames.Select(n => context.LoadFromAssemblyPath(Path.Combine(dir, n + ".dll"))));
        }
        finally
        {
            context.Unload();
        }
    }

    /// <summary>Resolves every assembly from the build's own folder first, so its dlls are read as that build has them.</summary>
    private sealed class FolderLoadContext(string dir) : AssemblyLoadContext($"contracts:{dir}", isCollectible: true)
    {
        protected override Assembly? Load(AssemblyName name)
        {
            var path = Path.Combine(dir, name.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }

    public static ContractShapes Of(IEnumerable<Assembly> assemblies)
    {
        var types = assemblies.SelectMany(LoadableTypes).ToList();
        var stateTypes = types.Where(t => t.IsClass && !t.IsAbstract)
            .SelectMany(t => t.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance))
            .SelectMany(c => c.GetParameters())
            .Where(p => p.ParameterType.IsGenericType && p.ParameterType.GetGenericTypeDefinition().FullName == "Orleans.Runtime.IPersistentState`1")
            .Select(p => p.ParameterType.GetGenericArguments()[0])
            .ToHashSet();
        var stateless = types.Where(t => t.IsClass && HasAttribute(t, "Orleans.Concurrency.StatelessWorkerAttribute"))
            .SelectMany(t => t.GetInterfaces()).ToHashSet();

        var shapes = new List<Shape>();
        var enums = new HashSet<Type>();
        foreach (var type in types.Where(t => HasAttribute(t, "Orleans.GenerateSerializerAttribute")))
        {
            const BindingFlags declared = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
            var members = type.GetProperties(declared).Cast<MemberInfo>().Concat(type.GetFields(declared))
                .Select(m => (Member: m, Id: IdOf(m)))
                .Where(x => x.Id is not null)
                .Select(x =>
                {
                    var memberType = x.Member is PropertyInfo p ? p.PropertyType : ((FieldInfo)x.Member).FieldType;
                    CollectEnums(memberType, enums);
                    return new MemberShape(x.Id!.Value, x.Member.Name, NameOf(memberType));
                })
                .ToList();
            var baseType = type.BaseType is null || type.BaseType.FullName is "System.Object" or "System.ValueType" ? "-" : NameOf(type.BaseType);
            shapes.Add(new TypeShape(KeyOf(type), type.FullName ?? type.Name, baseType, stateTypes.Contains(type), members));
        }
        foreach (var type in types.Where(t => t.IsInterface && t.GetInterfaces().Any(i => i.FullName == "Orleans.Runtime.IAddressable")))
        {
            var version = type.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.FullName == "Orleans.CodeGeneration.VersionAttribute");
            var methods = type.GetMethods(BindingFlags.Instance | BindingFlags.Public | BindingFlags.DeclaredOnly).Select(m =>
            {
                foreach (var p in m.GetParameters()) CollectEnums(p.ParameterType, enums);
                CollectEnums(m.ReturnType, enums);
                return new MethodShape(AliasOf(m) ?? m.Name, [.. m.GetParameters().Select(p => NameOf(p.ParameterType))], NameOf(m.ReturnType));
            }).ToList();
            shapes.Add(new InterfaceShape(KeyOf(type), version is null ? 0 : Convert.ToInt32(version.ConstructorArguments[0].Value),
                version is not null, stateless.Contains(type), methods));
        }
        foreach (var e in enums)
        {
            var values = e.GetFields(BindingFlags.Public | BindingFlags.Static)
                .Select(f => (f.Name, Convert.ToString(f.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture) ?? "")).ToList();
            shapes.Add(new EnumShape(KeyOf(e), NameOf(Enum.GetUnderlyingType(e)), values));
        }
        return new ContractShapes(shapes);
    }

    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try { return assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return e.Types.OfType<Type>(); }
    }

    private static bool HasAttribute(MemberInfo member, string fullName) =>
        member.GetCustomAttributesData().Any(a => a.AttributeType.FullName == fullName);

    private static uint? IdOf(MemberInfo member)
    {
        var id = member.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.FullName == "Orleans.IdAttribute");
        return id is null ? null : Convert.ToUInt32(id.ConstructorArguments[0].Value);
    }

    private static string? AliasOf(MemberInfo member) =>
        member.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.FullName == "Orleans.AliasAttribute")?.ConstructorArguments[0].Value as string;

    private static string KeyOf(Type type) => AliasOf(type) ?? PlainName(type);

    private static string PlainName(Type type) => (type.FullName ?? type.Name).Replace('+', '.');

    private static readonly Dictionary<string, string> Keywords = new()
    {
        ["System.Boolean"] = "bool", ["System.Byte"] = "byte", ["System.Int16"] = "short", ["System.Int32"] = "int", ["System.Int64"] = "long",
        ["System.UInt16"] = "ushort", ["System.UInt32"] = "uint", ["System.UInt64"] = "ulong", ["System.String"] = "string",
        ["System.Decimal"] = "decimal", ["System.Double"] = "double", ["System.Single"] = "float", ["System.Void"] = "void",
    };

    /// <summary>A type as the wire sees it: aliases for Qubrid types, generic arguments spelled out, no nullability annotations on references.</summary>
    public static string NameOf(Type type)
    {
        if (type.IsArray) return NameOf(type.GetElementType()!) + "[]";
        if (type.IsGenericType)
        {
            var definition = type.GetGenericTypeDefinition();
            var args = type.GetGenericArguments().Select(NameOf).ToList();
            if (definition.FullName == "System.Nullable`1") return args[0] + "?";
            var name = PlainName(definition);
            return $"{name[..name.IndexOf('`')]}<{string.Join(",", args)}>";
        }
        if (type.IsGenericParameter) return type.Name;
        return Keywords.TryGetValue(type.FullName ?? "", out var keyword) ? keyword : KeyOf(type);
    }

    private static void CollectEnums(Type type, HashSet<Type> enums)
    {
        if (type.IsEnum && !(type.Namespace ?? "").StartsWith("System", StringComparison.Ordinal)) enums.Add(type);
        if (type.HasElementType) CollectEnums(type.GetElementType()!, enums);
        if (type.IsGenericType) foreach (var a in type.GetGenericArguments()) CollectEnums(a, enums);
    }

    // ---- reading a snapshot ----

    [GeneratedRegex(@"^(type|state) (\S+) clr=(\S+) base=(\S+)$")] private static partial Regex TypeLine();
    [GeneratedRegex(@"^  id (\d+) (\S+) : (\S+)$")] private static partial Regex IdLine();
    [GeneratedRegex(@"^enum (\S+) : (\S+)$")] private static partial Regex EnumLine();
    [GeneratedRegex(@"^  value (\S+) = (\S+)$")] private static partial Regex ValueLine();
    [GeneratedRegex(@"^interface (\S+) version=(\d+)( \(not declared\))?( stateless)?$")] private static partial Regex InterfaceLine();
    [GeneratedRegex(@"^  method (\S+) \((.*)\) -> (\S+)$")] private static partial Regex MethodLine();

    /// <summary>Reads the text <see cref="ToString"/> writes; an unknown line is an error (a snapshot edited by hand wrongly).</summary>
    public static ContractShapes Parse(string text)
    {
        var shapes = new List<Shape>();
        Shape? current = null;
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            Match m;
            if ((m = TypeLine().Match(line)).Success)
                shapes.Add(current = new TypeShape(m.Groups[2].Value, m.Groups[3].Value, m.Groups[4].Value, m.Groups[1].Value == "state", new List<MemberShape>()));
            else if ((m = EnumLine().Match(line)).Success)
                shapes.Add(current = new EnumShape(m.Groups[1].Value, m.Groups[2].Value, new List<(string, string)>()));
            else if ((m = InterfaceLine().Match(line)).Success)
                shapes.Add(current = new InterfaceShape(m.Groups[1].Value, int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture),
                    !m.Groups[3].Success, m.Groups[4].Success, new List<MethodShape>()));
            else if ((m = IdLine().Match(line)).Success && current is TypeShape type)
                ((List<MemberShape>)type.Members).Add(new MemberShape(uint.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), m.Groups[2].Value, m.Groups[3].Value));
            else if ((m = ValueLine().Match(line)).Success && current is EnumShape e)
                ((List<(string, string)>)e.Values).Add((m.Groups[1].Value, m.Groups[2].Value));
            else if ((m = MethodLine().Match(line)).Success && current is InterfaceShape i)
                ((List<MethodShape>)i.Methods).Add(new MethodShape(m.Groups[1].Value,
                    m.Groups[2].Value.Length == 0 ? [] : m.Groups[2].Value.Split(", "), m.Groups[3].Value));
            else
                throw new FormatException($"Contract snapshot line {lineNumber} is not a shape: '{line}'");
        }
        return new ContractShapes(shapes);
    }

    // ---- the rules ----

    /// <summary>
    /// What this build breaks of <paramref name="previous"/>'s contracts (empty when it only adds): an <c>[Id]</c> removed
    /// or retyped, a state member renamed, a type or interface gone (or its alias changed), a base type changed, an enum
    /// value removed or renumbered, a method removed or retyped, an interface version lowered, or methods added without
    /// raising it. Each break names the member.
    /// </summary>
    public IReadOnlyList<string> BreaksAgainst(ContractShapes previous)
    {
        var breaks = new List<string>();
        var now = Shapes.ToDictionary(s => (s.GetType(), s.Key));
        foreach (var before in previous.Shapes)
        {
            if (!now.TryGetValue((before.GetType(), before.Key), out var after))
            {
                breaks.Add(before switch
                {
                    InterfaceShape => $"grain interface {before.Key} is gone (removed, or its [Alias] changed): the previous release still calls it",
                    EnumShape => $"enum {before.Key} is gone (removed or renamed)",
                    _ => $"type {before.Key} is gone (removed, or its [Alias] changed): the previous release still sends or stores it",
                });
                continue;
            }
            switch (before, after)
            {
                case (TypeShape b, TypeShape a):
                    if (b.Base != a.Base) breaks.Add($"{b.Key}: base type changed from {b.Base} to {a.Base}");
                    var members = a.Members.ToDictionary(m => m.Id);
                    foreach (var m in b.Members)
                    {
                        if (!members.TryGetValue(m.Id, out var n))
                            breaks.Add($"{b.Key}.{m.Name} [Id({m.Id})] removed: the previous release still sends or stores it");
                        else if (n.Type != m.Type)
                            breaks.Add($"{b.Key}.{m.Name} [Id({m.Id})] retyped from {m.Type} to {n.Type}");
                        else if (b.State && n.Name != m.Name)
                            breaks.Add($"{b.Key}.{m.Name} [Id({m.Id})] renamed to {n.Name}: grain state is stored as JSON by member name");
                    }
                    break;
                case (EnumShape b, EnumShape a):
                    if (b.Underlying != a.Underlying) breaks.Add($"enum {b.Key}: underlying type changed from {b.Underlying} to {a.Underlying}");
                    var values = a.Values.ToDictionary(v => v.Name, v => v.Value);
                    foreach (var (name, value) in b.Values)
                    {
                        if (!values.TryGetValue(name, out var v)) breaks.Add($"enum {b.Key}.{name} (= {value}) removed");
                        else if (v != value) breaks.Add($"enum {b.Key}.{name} renumbered from {value} to {v}");
                    }
                    break;
                case (InterfaceShape b, InterfaceShape a):
                    if (a.Version < b.Version) breaks.Add($"grain interface {b.Key}: [Version] lowered from {b.Version} to {a.Version}");
                    var methods = a.Methods.ToDictionary(m => m.Alias);
                    foreach (var m in b.Methods)
                    {
                        if (!methods.TryGetValue(m.Alias, out var n))
                            breaks.Add($"grain interface {b.Key}.{m.Alias} removed (or its [Alias] changed): the previous release still calls it");
                        else if (!n.Parameters.SequenceEqual(m.Parameters))
                            breaks.Add($"grain interface {b.Key}.{m.Alias} parameters changed from ({string.Join(", ", m.Parameters)}) to ({string.Join(", ", n.Parameters)})");
                        else if (n.Returns != m.Returns)
                            breaks.Add($"grain interface {b.Key}.{m.Alias} return type changed from {m.Returns} to {n.Returns}");
                    }
                    var added = a.Methods.Select(m => m.Alias).Except(b.Methods.Select(m => m.Alias)).Order(StringComparer.Ordinal).ToList();
                    if (added.Count > 0 && a.Version <= b.Version)
                        breaks.Add($"grain interface {b.Key} gained {string.Join(", ", added)} without raising [Version] above {b.Version}: " +
                                   "a caller of the new method could reach an activation of the previous release");
                    break;
            }
        }
        return breaks;
    }

    /// <summary>Rules on this build alone: every grain interface declares its <c>[Version]</c>.</summary>
    public IReadOnlyList<string> OwnRuleBreaks() =>
        [.. Shapes.OfType<InterfaceShape>().Where(i => !i.Declared).Select(i => $"grain interface {i.Key} does not declare [Version(n)]")];
}
