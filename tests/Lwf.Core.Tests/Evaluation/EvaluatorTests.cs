using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Evaluation;
using Lwf.Core.Tests.Jobs;
using Lwf.Core.Text;

namespace Lwf.Core.Tests.Evaluation;

public sealed class EvaluatorTests
{
    [Fact]
    public void Multiple_choice_accuracy_does_not_depend_on_how_many_questions_share_a_forward_pass()
    {
        using var model = PretrainedModel.Load(JobFiles.TinyModel, initSeed: 5);
        var encoder = new RecordEncoder(TextTokenizer.Load(JobFiles.TinyModel, model.Config), model.Config, 48);
        var questions = JsonlDataset.LoadMultipleChoice(JobFiles.ExampleData("learn-eval.jsonl"));
        // One question a pass (batch 1: a question's choices are never split) is how it was scored before batching.
        double alone = Evaluator.MultipleChoiceAccuracy(model, encoder, questions, batchSize: 1);
        foreach (int batch in new[] { 7, 16, 64, 1000 })
            Assert.Equal(alone, Evaluator.MultipleChoiceAccuracy(model, encoder, questions, batch));
        // Questions of different choice counts: groups end on a question's boundary.
        var mixed = questions.Select((q, i) => i % 3 == 0 ? q with { Choices = q.Choices.Take(2).ToArray(), Answer = Math.Min(q.Answer, 1) } : q).ToList();
        Assert.Equal(Evaluator.MultipleChoiceAccuracy(model, encoder, mixed, 1), Evaluator.MultipleChoiceAccuracy(model, encoder, mixed, 16));
    }
}
