// Exports a correct ABI tag but no entry alias: refused at stage "entry".
#include <agenthost/abi.hpp>
#include <boost/config.hpp>

extern "C" BOOST_SYMBOL_EXPORT const char agenthost_abi_tag[];
extern "C" BOOST_SYMBOL_EXPORT const char agenthost_abi_tag[] = AGENTHOST_ABI_TAG;
