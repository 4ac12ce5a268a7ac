import Foundation

/// The training settings vocabulary: every setting a bundle's manifest, daemon.conf's
/// `[training]` section or a flag of `augerino train` may give, with its values, default and
/// meaning. The manifest reader, daemon.conf's reader, the flags and the table in
/// docs/configuration.md all follow this one table (`markdownTable`, checked by a test); a run
/// resolves what each place gave into one value with no gaps (Training's `RunSettings`):
/// flags over the manifest over daemon.conf over the defaults here.
///
/// Adding a setting: a case and its row here, then its use in `RunSettings.resolve`; the
/// readers, the flags' parsing and the documentation follow (the flag's declaration is one line
/// in the executable's `TrainingFlags`, which a test checks against this table).
public enum TrainingSetting: String, CaseIterable, Sendable, Hashable, Comparable {
    case epochs, batchSize = "batch_size", learningRate = "learning_rate", regularization, testCopies = "test_copies", seed
    case architecture, width
    case objective, rewardUnits = "reward_units", schedule, rewardCap = "reward_cap", widthLearningRate = "width_learning_rate"
    case probeImages = "probe_images"
    case generators

    /// The values a setting takes.
    public enum Kind: Sendable, Equatable {
        case integer(ClosedRange<Int>)
        /// Any whole number from 0 to 2⁶⁴−1.
        case seed
        /// A finite number within the bounds; an open end excludes its bound.
        case real(lower: Float, lowerOpen: Bool, upper: Float, upperOpen: Bool)
        case choice([String])
        /// Some of these names, each at most once, at least one.
        case names([String])
    }

    /// What a run takes when nothing sets the setting.
    public enum Default: Sendable, Equatable {
        case value(SettingValue)
        /// Worked out when the run starts, from the data or another setting; the text says how.
        case derived(String)
    }

    /// One row of the table.
    public struct Row: Sendable {
        public let kind: Kind
        /// The manifest's object that holds it ("training" or "model"); its key there is `name`.
        public let manifestSection: String
        /// The flag of `augerino train`, without the dashes.
        public let flag: String
        public let `default`: Default
        /// What it does, for the documentation and `--help`.
        public let meaning: String
    }

    /// The table.
    public var row: Row {
        switch self {
        case .epochs:
            Row(kind: .integer(1...10_000), manifestSection: "training", flag: "epochs",
                default: .derived("from the data: about 1,300 optimiser steps with the spread objective, 5,600 with the reward or evidence, 10 to 200 epochs, left early once the answer has settled"),
                meaning: "passes over the training split; when set, the run takes all of them")
        case .batchSize:
            Row(kind: .integer(2...65_536), manifestSection: "training", flag: "batch", default: .value(.integer(128)),
                meaning: "images per optimiser step")
        case .learningRate:
            Row(kind: .real(lower: 0, lowerOpen: true, upper: 10, upperOpen: true), manifestSection: "training", flag: "learning-rate",
                default: .value(.real(0.01)), meaning: "Adam's learning rate for the network and the widths")
        case .regularization:
            Row(kind: .real(lower: 0, lowerOpen: false, upper: 100, upperOpen: true), manifestSection: "training", flag: "reg",
                default: .derived("from the task: 0.1 for classification, 0.01 for regression"),
                meaning: "λ, the weight of the width reward in loss = task loss − λ‖θ‖ (objective reward)")
        case .testCopies:
            Row(kind: .integer(1...1024), manifestSection: "training", flag: "copies", default: .value(.integer(4)),
                meaning: "augmented copies averaged per test image")
        case .seed:
            Row(kind: .seed, manifestSection: "training", flag: "seed", default: .value(.seed(0)),
                meaning: "seed of initialisation, shuffling, dropout, augmentation and the held-out split")
        case .architecture:
            Row(kind: .choice(["smallnet", "simpleconv", "mlp"]), manifestSection: "model", flag: "architecture",
                default: .derived("from the data: smallnet for one channel, simpleconv for more"),
                meaning: "the network: smallnet (5 conv layers; the reference's for rotated MNIST), simpleconv (4 conv layers; its two-sprite network) or mlp (dense layers)")
        case .width:
            Row(kind: .integer(1...1024), manifestSection: "model", flag: "width", default: .value(.integer(32)),
                meaning: "network width: k (smallnet), c (simpleconv) or hidden units (mlp)")
        case .objective:
            Row(kind: .choice(["reward", "evidence", "spread"]), manifestSection: "training", flag: "objective",
                default: .derived("from the task: spread for classification, reward for regression (a regression's spread is not yet read well)"),
                meaning: "what sets the widths: spread (before training, aligning each class's images to one another measures how far they vary along each generator, and the widths are held there: no weight to choose), reward (Benton et al.'s −λ‖θ‖, trained with the network) or evidence (the last layer's Laplace evidence; experimental); docs/performance.md, \"Fidelity\"")
        case .rewardUnits:
            Row(kind: .choice(["displacement", "parameter"]), manifestSection: "training", flag: "reward-units",
                default: .value(.choice("displacement")),
                meaning: "units of the reward's ‖θ‖: displacement (widths weighed by how far they move points) or parameter (the reference)")
        case .schedule:
            Row(kind: .choice(["cosine", "constant"]), manifestSection: "training", flag: "schedule", default: .value(.choice("cosine")),
                meaning: "the learning rate over training: cosine (annealed to 0, network and widths alike) or constant (the reference)")
        case .rewardCap:
            Row(kind: .real(lower: 0, lowerOpen: false, upper: 1000, upperOpen: false), manifestSection: "training", flag: "reward-cap",
                default: .value(.real(0)),
                meaning: "when above 0, the reward is off while any width θ exceeds it (the reference's bounded variant); 0: never")
        case .widthLearningRate:
            Row(kind: .real(lower: 0, lowerOpen: false, upper: 10, upperOpen: true), manifestSection: "training", flag: "width-learning-rate",
                default: .derived("the learning_rate setting's"),
                meaning: "Adam's learning rate for the widths alone; 0 freezes them at their initial values, forcing those invariances (the spread objective then reads none)")
        case .probeImages:
            Row(kind: .integer(0...100_000), manifestSection: "training", flag: "probe-images", default: .value(.integer(250)),
                meaning: "held-out images the invariance probes use after training (0: no probes)")
        case .generators:
            Row(kind: .names(Manifest.generatorNames), manifestSection: "augmentation", flag: "generators",
                default: .derived("the six affine generators, and with the spread objective (widths not frozen) the mirrors that apply (horizontal_flip, vertical_flip; transpose on square images)"),
                meaning: "what to learn: affine generators, photometric families (brightness, contrast, gamma; saturation and hue on three channels) and mirrors (horizontal_flip, vertical_flip; transpose on square images), comma-separated (a list in the manifest); the others stay at none")
        }
    }

    /// Its key in daemon.conf's `[training]` and in the manifest's section.
    public var name: String { rawValue }
    /// Its key in the manifest: "training.epochs", "model.width".
    public var manifestKey: String { "\(row.manifestSection).\(name)" }
    /// Its flag, with the dashes: "--epochs".
    public var flag: String { "--\(row.flag)" }

    public static func < (a: TrainingSetting, b: TrainingSetting) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The settings the manifest holds in `section` ("training", "model").
    public static func inManifest(_ section: String) -> [TrainingSetting] { allCases.filter { $0.row.manifestSection == section } }

    /// The rule a value must follow, as the end of a sentence: "must be a whole number from 1 to 10000".
    public var rule: String {
        switch row.kind {
        case .integer(let range): "must be a whole number from \(range.lowerBound) to \(range.upperBound)"
        case .seed: "must be a whole number from 0 to \(UInt64.max)"
        case .real(let lower, let lowerOpen, let upper, let upperOpen):
            "must be a number " + (lowerOpen ? "above \(Self.text(lower))" : "from \(Self.text(lower))")
                + (upperOpen ? (lowerOpen ? " and below " : " up to but not including ") : (lowerOpen ? " up to " : " to ")) + Self.text(upper)
        case .choice(let names):
            "must be " + (names.count > 1 ? names.dropLast().map { "\"\($0)\"" }.joined(separator: ", ") + " or " : "") + "\"\(names.last ?? "")\""
        case .names(let names): "must list names from \(names.joined(separator: ", ")), each at most once"
        }
    }

    /// The values, for the documentation: "1–10000", "(0, 10)", "[0, 100)", "cosine, constant".
    public var rangeText: String {
        switch row.kind {
        case .integer(let range): "\(range.lowerBound)–\(range.upperBound)"
        case .seed: "0–2⁶⁴−1"
        case .real(let lower, let lowerOpen, let upper, let upperOpen):
            "\(lowerOpen ? "(" : "[")\(Self.text(lower)), \(Self.text(upper))\(upperOpen ? ")" : "]")"
        case .choice(let names): names.joined(separator: ", ")
        case .names(let names): "some of " + names.joined(separator: ", ")
        }
    }

    /// The default, for the documentation and `--help`.
    public var defaultText: String {
        switch row.default {
        case .value(let value): value.description
        case .derived(let how): how
        }
    }

    /// A value written as text (daemon.conf, a flag); nil when it breaks `rule`.
    public func value(parsing text: String) -> SettingValue? {
        let text = text.trimmingCharacters(in: .whitespaces)
        switch row.kind {
        case .integer: return Int(text).flatMap { accepted(.integer($0)) }
        case .seed: return UInt64(text).map { .seed($0) }
        case .real: return Float(text).flatMap { accepted(.real($0)) }
        case .choice: return accepted(.choice(text))
        case .names: return accepted(.names(text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }))
        }
    }

    /// A value as JSON holds it (a `StrictJSON.Number` or a string); nil when it breaks `rule`.
    public func value(json: Any) -> SettingValue? {
        switch row.kind {
        case .integer:
            guard let number = json as? StrictJSON.Number, number.value == number.value.rounded(), abs(number.value) < 9e18 else { return nil }
            return accepted(.integer(Int(number.value)))
        case .seed:
            guard let number = json as? StrictJSON.Number else { return nil }
            if let exact = UInt64(number.literal) { return .seed(exact) }
            guard number.value == number.value.rounded(), number.value >= 0, number.value < 1.8e19 else { return nil }
            return .seed(UInt64(number.value))
        case .real:
            guard let number = json as? StrictJSON.Number else { return nil }
            return accepted(.real(Float(number.value)))
        case .choice:
            return (json as? String).flatMap { accepted(.choice($0)) }
        case .names:
            return (json as? [Any]).flatMap { list in
                let names = list.compactMap { $0 as? String }
                return names.count == list.count ? accepted(.names(names)) : nil
            }
        }
    }

    /// `value` when it is of this setting's kind and follows its rule, else nil.
    public func accepted(_ value: SettingValue) -> SettingValue? {
        switch (row.kind, value) {
        case (.integer(let range), .integer(let n)): return range.contains(n) ? value : nil
        case (.seed, .seed): return value
        case (.real(let lower, let lowerOpen, let upper, let upperOpen), .real(let x)):
            guard x.isFinite, lowerOpen ? x > lower : x >= lower, upperOpen ? x < upper : x <= upper else { return nil }
            return value
        case (.choice(let names), .choice(let name)): return names.contains(name) ? value : nil
        case (.names(let names), .names(let given)):
            return !given.isEmpty && given.allSatisfy(names.contains) && Set(given).count == given.count ? value : nil
        default: return nil
        }
    }

    /// The table as Markdown, as docs/configuration.md shows it.
    public static var markdownTable: String {
        var lines = ["| setting | default | values | manifest | flag | meaning |", "|---|---|---|---|---|---|"]
        for setting in allCases {
            lines.append("| `\(setting.name)` | \(setting.defaultText) | \(setting.rangeText) | `\(setting.manifestKey)` | `\(setting.flag)` | \(setting.row.meaning) |")
        }
        return lines.joined(separator: "\n")
    }

    private static func text(_ x: Float) -> String { x == x.rounded() && abs(x) < 1e7 ? String(Int(x)) : "\(x)" }
}

/// One setting's value.
public enum SettingValue: Sendable, Hashable, CustomStringConvertible {
    case integer(Int), seed(UInt64), real(Float), choice(String), names([String])

    /// As daemon.conf and the flags write it.
    public var description: String {
        switch self {
        case .integer(let n): String(n)
        case .seed(let n): String(n)
        case .real(let x): x == x.rounded() && abs(x) < 1e7 ? String(Int(x)) : "\(x)"
        case .choice(let name): name
        case .names(let names): names.joined(separator: ",")
        }
    }

    /// As JSON holds it.
    var json: Any {
        switch self {
        case .integer(let n): n
        case .seed(let n): n
        case .real(let x): Double("\(x)") ?? Double(x)  // the shortest decimal that reads back as x, not x's binary expansion
        case .choice(let name): name
        case .names(let names): names
        }
    }
}

/// Settings given in one place (flags, a manifest, daemon.conf): each setting at most once,
/// every value checked against the table when it was read.
public struct SettingValues: Sendable, Equatable {
    public private(set) var values: [TrainingSetting: SettingValue] = [:]

    public init() {}

    /// Settings given in code (an example's manifest, a test).
    /// - Throws: `SettingValues.Refusal` for a value that breaks its setting's rule.
    public init(_ values: [TrainingSetting: SettingValue]) throws {
        for (setting, value) in values { try set(setting, value) }
    }

    public subscript(setting: TrainingSetting) -> SettingValue? { values[setting] }

    public var isEmpty: Bool { values.isEmpty }
    /// The settings given, in the table's order.
    public var settings: [TrainingSetting] { values.keys.sorted() }

    /// Sets `setting`.
    /// - Throws: `SettingValues.Refusal` when the value breaks the setting's rule.
    public mutating func set(_ setting: TrainingSetting, _ value: SettingValue) throws {
        guard let accepted = setting.accepted(value) else { throw Refusal(setting: setting, value: value) }
        values[setting] = accepted
    }

    public mutating func remove(_ setting: TrainingSetting) { values[setting] = nil }

    /// Each setting from `self`, else from `fallback`.
    public func orElse(_ fallback: SettingValues) -> SettingValues {
        var merged = fallback
        merged.values.merge(values) { _, mine in mine }
        return merged
    }

    public func integer(_ setting: TrainingSetting) -> Int? { if case .integer(let n)? = values[setting] { n } else { nil } }
    public func seed(_ setting: TrainingSetting) -> UInt64? { if case .seed(let n)? = values[setting] { n } else { nil } }
    public func real(_ setting: TrainingSetting) -> Float? { if case .real(let x)? = values[setting] { x } else { nil } }
    public func choice(_ setting: TrainingSetting) -> String? { if case .choice(let name)? = values[setting] { name } else { nil } }
    public func names(_ setting: TrainingSetting) -> [String]? { if case .names(let names)? = values[setting] { names } else { nil } }

    /// A value that breaks its setting's rule.
    public struct Refusal: Error, CustomStringConvertible {
        public let setting: TrainingSetting, value: SettingValue
        public var description: String { "\(setting.name) \(value): \(setting.rule)" }
    }

    /// The values of the settings in `settings`, as a JSON object keyed by setting name.
    public func json(_ settings: [TrainingSetting]) -> [String: Any] {
        Dictionary(uniqueKeysWithValues: values.filter { settings.contains($0.key) }.map { ($0.key.name, $0.value.json) })
    }
}

extension SettingValues: Codable {
    private struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// A JSON object keyed by setting name, each value of its kind (the job child's spec).
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (setting, value) in values {
            let key = Key(stringValue: setting.name)
            switch value {
            case .integer(let n): try container.encode(n, forKey: key)
            case .seed(let n): try container.encode(n, forKey: key)
            case .real(let x): try container.encode(x, forKey: key)
            case .choice(let name): try container.encode(name, forKey: key)
            case .names(let names): try container.encode(names, forKey: key)
            }
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for key in container.allKeys {
            guard let setting = TrainingSetting(rawValue: key.stringValue) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\"\(key.stringValue)\" is not a training setting")
            }
            let value: SettingValue
            switch setting.row.kind {
            case .integer: value = .integer(try container.decode(Int.self, forKey: key))
            case .seed: value = .seed(try container.decode(UInt64.self, forKey: key))
            case .real: value = .real(try container.decode(Float.self, forKey: key))
            case .choice: value = .choice(try container.decode(String.self, forKey: key))
            case .names: value = .names(try container.decode([String].self, forKey: key))
            }
            do { try set(setting, value) } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\(error)")
            }
        }
    }
}
