using Lwf.Cli;

return LwfCommandLine.Run(args);
