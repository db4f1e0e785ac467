# The PyPI ROS wheels export include directories of the machine that built them
# (/opt/python/...). Drop entries that do not exist here so CMake's generate step passes.
# Include this after rosidl_generate_interfaces() in the interface packages of interfaces/.
get_directory_property(_imported IMPORTED_TARGETS)
foreach(_target IN LISTS _imported)
  get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
  if(_dirs)
    set(_kept "")
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}")
        list(APPEND _kept "${_dir}")
      endif()
    endforeach()
    set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kept}")
  endif()
endforeach()
