#pragma once
// SDK version. The major version changes on any incompatible change to an SDK
// header; see sdk/ABI.md for the policy.

#define AGENTHOST_SDK_VERSION_MAJOR 1
#define AGENTHOST_SDK_VERSION_MINOR 0
#define AGENTHOST_SDK_VERSION_PATCH 0
#define AGENTHOST_SDK_VERSION_STRING "1.0.0"
