#pragma once
// Umbrella header: everything a training program needs.

#include "mlflow/client.hpp"
#include "mlflow/entities.hpp"
#include "mlflow/error.hpp"
#include "mlflow/fluent.hpp"
#include "mlflow/tracking_store.hpp"
#include "mlflow/validation.hpp"
