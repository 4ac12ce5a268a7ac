import Bundle
import Invariance
import NN

/// A run's settings, resolved: each setting of the vocabulary (`TrainingSetting`) from the
/// first place that gives it — the flags, the bundle's manifest, daemon.conf's `[training]` —
/// else its default, the derived ones worked out here from the data. Nothing is left open:
/// this is what the trainer, the network and the probes receive.
public struct RunSettings: Sendable, Equatable {
    /// Where a setting's value came from.
    public enum Origin: String, Sendable, CaseIterable {
        case flag, manifest, daemonConf = "daemon.conf", builtIn = "default", derived
    }

    public var training: TrainingSettings
    public var architecture: NetworkSpec.Architecture
    public var width: Int
    public var probeImages: Int
    /// The generators and families the run learns (by name, as `augmentation.generators`).
    public var generators: [String]
    public var origins: [TrainingSetting: Origin]

    /// Whether the epochs were worked out from the data (nothing gave them): such a run ends
    /// once its answer has settled (`SettledAnswer`).
    public var epochsDerived: Bool { origins[.epochs] == .derived }

    /// λ when nothing sets it: 0.1 for classification, 0.01 for regression. The reward is traded
    /// against the task loss, and the two losses differ in what a given width costs: a class
    /// the augmentation cannot change costs cross-entropy only where a transformed image crosses
    /// a decision boundary, while a regression target that moves with the transformation costs
    /// its whole squared change (θ²/12 for a rotation angle), so at equal λ a regression settles
    /// on widths about ten times too wide (docs/performance.md, "Learning invariances").
    public static func defaultRegularization(_ task: Manifest.Task) -> Float { task == .regression ? 0.01 : 0.1 }

    /// What sets the widths when nothing says: the spread read from the data for
    /// classification; the reward for regression. A regression's spread is read within the
    /// forms of its whole set (within 22% of the data's own on MNIST turned by its target), but
    /// the data's own variation is not always one the target is invariant to: a stretch or a
    /// shear turns a tilted stroke, and on the angle regression the spread's widths trained to
    /// test MSE 0.163 where the reward's, fallen nearly to none, reached 0.124 in the same 14
    /// epochs (docs/performance.md, "Spread as the default", "Twenty forms a class").
    public static func defaultObjective(_ task: Manifest.Task) -> WidthObjective { task == .regression ? .reward : .spread }

    /// Optimiser steps a run takes when nothing sets the epochs and its widths train (the reward
    /// and evidence objectives). Adam moves a width by at most about one learning rate per step,
    /// so a width that should grow to the full circle (2π from ln 2) needs several hundred steps
    /// at full speed and, with noisy gradients, thousands.
    public static let defaultSteps = 5_600

    /// The same when the widths are read before training and held (the spread objective, or
    /// widths frozen by a width learning rate of 0): the budget trains the network alone.
    /// Rotated MNIST (12,000 images, smallnet k = 32, 94 steps an epoch) reached 95.71% test
    /// accuracy with 4 copies in 14 epochs and 95.99% in 18, against 94.45% for the 55 that
    /// 5,600 steps and the stopping rule gave (docs/performance.md, session 17).
    public static let heldWidthSteps = 1_300

    /// Epochs when nothing sets them: enough for the objective's steps (`defaultSteps`, or
    /// `heldWidthSteps` when the widths are held), from 10 to 200.
    public static func defaultEpochs(trainImages: Int, batchSize: Int, widthsHeld: Bool = false) -> Int {
        let stepsPerEpoch = max(1, (trainImages + batchSize - 1) / max(1, batchSize))
        let steps = widthsHeld ? heldWidthSteps : defaultSteps
        return min(200, max(10, (steps + stepsPerEpoch - 1) / stepsPerEpoch))
    }

    /// What is learned when nothing names it: the six affine generators; with the spread
    /// objective also the mirrors, and the transpose on square images (on others it is not a
    /// symmetry, and left out without a word, as a family nobody named). The spread reads a
    /// mirror only where the classes each have one form (`SymmetrySpread.oneForm`), and reads
    /// none on digits, turned or not, and on the turned sprites (docs/performance.md, "Mirrors
    /// by default"); the reward moves p the right way but not to 0 in a default run, so it
    /// learns the affine generators alone. Nor are they a default when the widths are frozen
    /// (`widthsRead` false: a width learning rate of 0): nothing is read then, and every image
    /// would be mirrored at the initial p ¼. The photometric families are named, not defaults:
    /// MNIST's strokes alone read as brightness −38%…+61%.
    public static func defaultGenerators(_ objective: WidthObjective, widthsRead: Bool = true, height: Int, width: Int) -> [String] {
        let affine = AffineGenerator.allCases.map(\.rawValue)
        guard objective == .spread, widthsRead else { return affine }
        return affine + SymmetryFamily.allCases.filter { $0.applies(height: height, width: width) }.map(\.rawValue)
    }

    /// Resolves the settings of a run on `trainImages` training images of `channels` channels,
    /// `height` by `width` pixels.
    public static func resolve(flags: SettingValues, manifest: SettingValues, daemon: SettingValues,
                               task: Manifest.Task, channels: Int, height: Int, width: Int, trainImages: Int) -> RunSettings {
        var origins: [TrainingSetting: Origin] = [:]
        var resolved: [TrainingSetting: SettingValue] = [:]
        for setting in TrainingSetting.allCases {
            let given: [(SettingValues, Origin)] = [(flags, .flag), (manifest, .manifest), (daemon, .daemonConf)]
            if let (value, origin) = given.lazy.compactMap({ values, origin in values[setting].map { ($0, origin) } }).first {
                (resolved[setting], origins[setting]) = (value, origin)
            } else if case .value(let value) = setting.row.default {
                (resolved[setting], origins[setting]) = (value, .builtIn)
            } else {
                origins[setting] = .derived
            }
        }
        // Settings with a default value are always resolved, of the kind the readers checked;
        // those without one are derived below.
        func missing(_ setting: TrainingSetting) -> Never { preconditionFailure("\(setting.name): no value and no default in the settings table") }
        func required<T>(_ value: T?, _ setting: TrainingSetting) -> T { if let value { return value }; missing(setting) }
        func integer(_ setting: TrainingSetting) -> Int { if case .integer(let n)? = resolved[setting] { return n }; missing(setting) }
        func real(_ setting: TrainingSetting) -> Float? { if case .real(let x)? = resolved[setting] { return x }; return nil }
        func choice<T: RawRepresentable>(_ setting: TrainingSetting) -> T? where T.RawValue == String {
            guard case .choice(let name)? = resolved[setting] else { return nil }
            guard let value = T(rawValue: name) else { preconditionFailure("\(setting.name): the table offers \"\(name)\", which \(T.self) lacks") }
            return value
        }

        var training = TrainingSettings()
        training.batchSize = integer(.batchSize)
        training.learningRate = required(real(.learningRate), .learningRate)
        training.regularization = real(.regularization) ?? defaultRegularization(task)
        training.testCopies = integer(.testCopies)
        guard case .seed(let seed)? = resolved[.seed] else { missing(.seed) }
        training.seed = seed
        training.objective = choice(.objective) ?? defaultObjective(task)
        training.rewardUnits = required(choice(.rewardUnits), .rewardUnits)
        training.schedule = required(choice(.schedule), .schedule)
        training.rewardCap = real(.rewardCap).flatMap { $0 > 0 ? $0 : nil }
        training.widthLearningRate = real(.widthLearningRate)
        let widthsHeld = training.objective == .spread || training.widthLearningRate == 0
        training.epochs = resolved[.epochs] == nil ? defaultEpochs(trainImages: trainImages, batchSize: training.batchSize, widthsHeld: widthsHeld)
                                                   : integer(.epochs)
        let architecture: NetworkSpec.Architecture = choice(.architecture) ?? (channels == 1 ? .smallnet : .simpleconv)
        let generators: [String]
        if case .names(let names)? = resolved[.generators] { generators = names } else {
            generators = defaultGenerators(training.objective, widthsRead: training.widthLearningRate != 0, height: height, width: width)
        }
        return RunSettings(training: training, architecture: architecture, width: integer(.width), probeImages: integer(.probeImages),
                           generators: generators, origins: origins)
    }

    /// Which settings were given, and where: "flag: epochs; manifest: architecture, width", or
    /// "none (defaults throughout)". For the report.
    public var givenText: String {
        let parts = [Origin.flag, .manifest, .daemonConf].compactMap { origin -> String? in
            let names = TrainingSetting.allCases.filter { origins[$0] == origin }.map(\.name)
            return names.isEmpty ? nil : "\(origin.rawValue): \(names.joined(separator: ", "))"
        }
        return parts.isEmpty ? "none (defaults throughout)" : parts.joined(separator: "; ")
    }
}
