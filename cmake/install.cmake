# cmake --install: headers, the static libraries as mlflow::storage / mlflow::tracker, the mlflow-cpp
# command, a CMake package (find_package(mlflow_cpp CONFIG)) and a pkg-config file (mlflow-cpp.pc).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MLFLOW_CPP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mlflow_cpp)

set_target_properties(mlflow_storage PROPERTIES EXPORT_NAME storage)
set_target_properties(mlflow_tracker PROPERTIES EXPORT_NAME tracker)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mlflow DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(TARGETS mlflow_storage mlflow_tracker EXPORT mlflow_cppTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET mlflow-cpp)
  install(TARGETS mlflow-cpp RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT mlflow_cppTargets NAMESPACE mlflow:: FILE mlflow_cppTargets.cmake
        DESTINATION ${MLFLOW_CPP_CMAKE_DIR})
# The libraries were compiled against this exact Boost; its compiled parts are not ABI-stable across versions.
set(MLFLOW_CPP_BOOST_VERSION ${Boost_MAJOR_VERSION}.${Boost_MINOR_VERSION})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/mlflow_cppConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/mlflow_cppConfig.cmake
                              INSTALL_DESTINATION ${MLFLOW_CPP_CMAKE_DIR})
# 0.x: a minor release may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mlflow_cppConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mlflow_cppConfig.cmake ${PROJECT_BINARY_DIR}/mlflow_cppConfigVersion.cmake
        DESTINATION ${MLFLOW_CPP_CMAKE_DIR})

# pkg-config: relocatable (prefix found from ${pcfiledir}), so `cmake --install --prefix X` works.
set(MLFLOW_CPP_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH MLFLOW_CPP_PC_TO_PREFIX /prefix/${MLFLOW_CPP_PC_DIR} /prefix)
string(REGEX REPLACE "/$" "" MLFLOW_CPP_PC_TO_PREFIX "${MLFLOW_CPP_PC_TO_PREFIX}")
set(MLFLOW_CPP_PC_BOOST_LIBS "-lboost_json -lboost_url")
get_target_property(_mlflow_boost_json_lib Boost::json LOCATION)
if(_mlflow_boost_json_lib)
  get_filename_component(_mlflow_boost_dir ${_mlflow_boost_json_lib} DIRECTORY)
  if(NOT _mlflow_boost_dir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
    set(MLFLOW_CPP_PC_BOOST_LIBS "-L${_mlflow_boost_dir} ${MLFLOW_CPP_PC_BOOST_LIBS}")
  endif()
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/mlflow-cpp.pc.in ${PROJECT_BINARY_DIR}/mlflow-cpp.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/mlflow-cpp.pc DESTINATION ${MLFLOW_CPP_PC_DIR})
