using Lwf.Silo;

await LwfSiloHost.Build(args).RunAsync();
