using Lwf.Cli;

if (Environment.GetEnvironmentVariable("LWF_MALLOC") != "default") Lwf.Core.NativeMemory.KeepLargeAllocationsOnHeap();
return LwfCommandLine.Run(args);
