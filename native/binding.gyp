{
  "targets": [
    {
      "target_name": "layerfs_native",
      "sources": ["layerfs_native.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "_FILE_OFFSET_BITS=64"],
      "cflags": ["-O2", "-Wall"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags": ["-O2", "-Wall"]
        }
      }
    }
  ]
}
