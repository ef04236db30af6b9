// api: the /v1 REST routes. Handlers decode the request, call a module, and map the Error to a
// status; they hold no logic of their own. The routes are listed in docs/api.md.
#pragma once

#include <httplib.h>

#include "context/context.h"
#include "instance/instance_manager.h"

namespace kiln {

class UnixHttpServer;
// kiln shell's upgraded connections.
void InstallShell(UnixHttpServer& server, Context& ctx, InstanceManager& instances);
void InstallRoutes(httplib::Server& server, Context& ctx, InstanceManager& instances);
void InstallSnapshotRoutes(httplib::Server& server, Context& ctx, InstanceManager& instances);
void InstallInstanceRoutes(httplib::Server& server, Context& ctx, InstanceManager& instances);
void InstallRegistryRoutes(httplib::Server& server, Context& ctx);

}  // namespace kiln
