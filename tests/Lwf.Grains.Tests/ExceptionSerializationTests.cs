using Lwf.Core;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Lwf.Grains.Tests;

public sealed class ExceptionSerializationTests
{
    private static Serializer SerializerOf(bool lwf)
    {
        var services = new ServiceCollection().AddSerializer();
        if (lwf) services.AddLwfExceptionSerialization();
        return services.BuildServiceProvider().GetRequiredService<Serializer>();
    }

    [Fact]
    public void A_training_failure_crosses_a_grain_call_as_itself_with_its_message()
    {
        // Thrown on a shard's silo, read on the trainer's: what `lwf status` shows is this message.
        object thrown = new LwfTrainingException("learning step 1: the loss is NaN and the gradient norm NaN");
        var serializer = SerializerOf(lwf: true);
        var copy = serializer.Deserialize<object>(serializer.SerializeToArray(thrown));
        var failure = Assert.IsType<LwfTrainingException>(copy);
        Assert.Equal("learning step 1: the loss is NaN and the gradient norm NaN", failure.Message);

        object input = new LwfInputException("job.yaml: train.steps: must be at least 1");
        Assert.Equal("job.yaml: train.steps: must be at least 1",
            Assert.IsType<LwfInputException>(serializer.Deserialize<object>(serializer.SerializeToArray(input))).Message);
    }

    [Fact]
    public void A_directory_lookup_given_up_during_a_membership_change_crosses_as_itself()
    {
        // Orleans' runtime throws Polly's timeout out of a grain call while a silo is cut off and not yet declared dead:
        // the console must read it as transient (and wait), not meet a CodecNotFoundException.
        object thrown = new InvalidOperationException("lookup", new Polly.Timeout.TimeoutRejectedException("The operation didn't complete within the allowed timeout of '00:00:30'."));
        var serializer = SerializerOf(lwf: true);
        var copy = Assert.IsType<InvalidOperationException>(serializer.Deserialize<object>(serializer.SerializeToArray(thrown)));
        Assert.IsType<Polly.Timeout.TimeoutRejectedException>(copy.InnerException);
    }

    [Fact]
    public void Without_it_Orleans_has_no_codec_for_them()
    {
        // The control: Orleans' default namespaces leave LWF's exceptions out (what made a NaN job fail as "CodecNotFoundException"), and Polly's.
        var serializer = SerializerOf(lwf: false);
        Assert.ThrowsAny<Orleans.Serialization.CodecNotFoundException>(() => serializer.Deserialize<object>(serializer.SerializeToArray<object>(new LwfTrainingException("x"))));
        Assert.ThrowsAny<Orleans.Serialization.CodecNotFoundException>(() => serializer.SerializeToArray<object>(new InvalidOperationException("lookup", new Polly.Timeout.TimeoutRejectedException("t"))));
    }
}
