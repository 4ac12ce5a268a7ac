import ArgumentParser
import Bundle

/// The flags that give training settings, shared by `train` and `bench fidelity`: one per row
/// of the settings table (`TrainingSetting`), whose name, help, values and rule they take from
/// it. The values are read as text and checked by the table, as daemon.conf's are.
struct TrainingFlags: ParsableArguments {
    @Option(name: .customLong(TrainingSetting.epochs.row.flag), help: help(.epochs)) var epochs: String?
    @Option(name: .customLong(TrainingSetting.batchSize.row.flag), help: help(.batchSize)) var batchSize: String?
    @Option(name: .customLong(TrainingSetting.learningRate.row.flag), help: help(.learningRate)) var learningRate: String?
    @Option(name: .customLong(TrainingSetting.regularization.row.flag), help: help(.regularization)) var regularization: String?
    @Option(name: .customLong(TrainingSetting.testCopies.row.flag), help: help(.testCopies)) var testCopies: String?
    @Option(name: .customLong(TrainingSetting.seed.row.flag), help: help(.seed)) var seed: String?
    @Option(name: .customLong(TrainingSetting.architecture.row.flag), help: help(.architecture)) var architecture: String?
    @Option(name: .customLong(TrainingSetting.width.row.flag), help: help(.width)) var width: String?
    @Option(name: .customLong(TrainingSetting.objective.row.flag), help: help(.objective)) var objective: String?
    @Option(name: .customLong(TrainingSetting.rewardUnits.row.flag), help: help(.rewardUnits)) var rewardUnits: String?
    @Option(name: .customLong(TrainingSetting.schedule.row.flag), help: help(.schedule)) var schedule: String?
    @Option(name: .customLong(TrainingSetting.rewardCap.row.flag), help: help(.rewardCap)) var rewardCap: String?
    @Option(name: .customLong(TrainingSetting.widthLearningRate.row.flag), help: help(.widthLearningRate)) var widthLearningRate: String?
    @Option(name: .customLong(TrainingSetting.probeImages.row.flag), help: help(.probeImages)) var probeImages: String?
    @Option(name: .customLong(TrainingSetting.generators.row.flag), help: help(.generators)) var generators: String?

    /// What each flag was given, by setting (a test checks every setting is here).
    var given: [TrainingSetting: String?] {
        [.epochs: epochs, .batchSize: batchSize, .learningRate: learningRate, .regularization: regularization, .testCopies: testCopies,
         .seed: seed, .architecture: architecture, .width: width, .objective: objective, .rewardUnits: rewardUnits,
         .schedule: schedule, .rewardCap: rewardCap, .widthLearningRate: widthLearningRate, .probeImages: probeImages,
         .generators: generators]
    }

    /// The settings the flags give.
    /// - Throws: `ValidationError` naming the flag, its value and the rule it breaks.
    func values() throws -> SettingValues {
        var values = SettingValues()
        for setting in TrainingSetting.allCases {
            guard let text = given[setting] ?? nil else { continue }
            guard let value = setting.value(parsing: text), (try? values.set(setting, value)) != nil else {
                throw ValidationError("\(setting.flag) \(text): \(setting.rule)")
            }
        }
        return values
    }

    func validate() throws { _ = try values() }

    static func help(_ setting: TrainingSetting) -> ArgumentHelp {
        let values = if case .choice = setting.row.kind { "" } else { "; \(setting.rangeText)" }
        let meaning = setting.row.meaning
        let sentence = meaning.first?.isASCII == true ? meaning.prefix(1).uppercased() + meaning.dropFirst() : meaning  // λ stays λ
        return ArgumentHelp("\(sentence)\(values) " +
                            "(default: the manifest's, else \(setting.defaultText)).")
    }
}
